namespace SpotCheckpoint.Scheduling;

/// <summary>
/// The checkpoint interval that wastes the least GPU time when interruptions are memoryless (a Poisson process of
/// mean time to interruption M) and each checkpoint is a stall δ that blocks training followed by a background
/// persist of p seconds that slows training by a share s of its speed and commits the checkpoint when it ends.
/// All quantities are in seconds; derivation in docs/scheduling.md ("The optimum with a background persist").
/// </summary>
/// <remarks>
/// With compute τ and training cost c = δ + s·p per checkpoint, the expected wall time per checkpoint interval is
/// exactly E(τ) = M·e^{(R+p)/M}·(e^{(τ+c)/M} − 1) (R the restart time): the commit latency p acts like restart time,
/// it does not depend on τ, so the optimum τ* minimises (e^{(τ+c)/M} − 1)/τ, i.e. solves (1 − τ/M)·e^{(τ+c)/M} = 1.
/// One persist at a time bounds the wall interval τ + s·p from below by p.
/// </remarks>
public static class CheckpointOptimum
{
    /// <summary>
    /// The compute time τ* between checkpoints that minimises the exact waste for a training cost
    /// <paramref name="cost"/> per checkpoint: the root of ln(1 − x) + x + c/M = 0, x = τ/M (≈ √(2cM) for c ≪ M).
    /// </summary>
    /// <param name="cost">c: what one checkpoint costs training, in seconds.</param>
    /// <param name="meanTimeToInterruption">M, in seconds; <see cref="double.PositiveInfinity"/> when nothing interrupts.</param>
    public static double ComputeInterval(double cost, double meanTimeToInterruption)
    {
        Check(cost, meanTimeToInterruption);
        if (double.IsPositiveInfinity(meanTimeToInterruption)) return double.PositiveInfinity;
        double a = cost / meanTimeToInterruption;
        if (a == 0) return 0;
        // h(x) = ln(1 − x) + x + a is concave and decreasing on (0, 1); Newton from the right (h ≤ 0 at √(2a))
        // converges monotonically.
        double x = Math.Min(Math.Sqrt(2 * a), 1 - 1e-12);
        for (int i = 0; i < 60; i++)
        {
            double h = Math.Log(1 - x) + x + a;
            double next = x + h * (1 - x) / x;
            if (!(next > 0) || next >= x) break;
            bool done = x - next <= 1e-14 * x;
            x = next;
            if (done) break;
        }
        return x * meanTimeToInterruption;
    }

    /// <summary>
    /// The optimum wall-clock interval from the end of one snapshot to the start of the next: τ* + s·p for the cost
    /// c = δ + s·p, and never below p (the persist must end before the next snapshot can use the staging buffer).
    /// </summary>
    /// <param name="stall">δ: seconds a snapshot blocks training (host or device, whichever is longer).</param>
    /// <param name="persist">p: seconds from the end of a snapshot to its commit.</param>
    /// <param name="slowdown">s: the share of training speed lost while a persist is in flight, 0 ≤ s &lt; 1.</param>
    /// <param name="meanTimeToInterruption">M, in seconds; <see cref="double.PositiveInfinity"/> when nothing interrupts.</param>
    public static double Interval(double stall, double persist, double slowdown, double meanTimeToInterruption)
    {
        CheckPersist(persist, slowdown);
        double tau = ComputeInterval(stall + slowdown * persist, meanTimeToInterruption);
        return Math.Max(tau + slowdown * persist, persist);
    }

    /// <summary>
    /// The expected share of wall-clock GPU time that does not become kept training progress when snapshots are
    /// taken every <paramref name="interval"/> wall seconds (from the end of one snapshot to the start of the next):
    /// W = 1 − τ/E(τ), exact for memoryless interruptions. Below p the next snapshot waits for the persist.
    /// </summary>
    /// <param name="interval">T, wall seconds between snapshots (positive).</param>
    /// <param name="stall">δ, seconds.</param>
    /// <param name="persist">p, seconds.</param>
    /// <param name="slowdown">s, 0 ≤ s &lt; 1.</param>
    /// <param name="meanTimeToInterruption">M, in seconds.</param>
    /// <param name="restart">R, seconds from an interruption until training runs again.</param>
    public static double WasteFraction(double interval, double stall, double persist, double slowdown, double meanTimeToInterruption, double restart = 0)
    {
        Check(stall, meanTimeToInterruption);
        CheckPersist(persist, slowdown);
        if (!(interval > 0)) throw new ArgumentOutOfRangeException(nameof(interval), interval, "The interval must be positive.");
        if (!(restart >= 0)) throw new ArgumentOutOfRangeException(nameof(restart), restart, "The restart time cannot be negative.");
        double tau, cost;
        if (interval >= persist)
        {
            tau = interval - slowdown * persist;
            cost = stall + slowdown * persist;
        }
        else
        {
            tau = (1 - slowdown) * interval;
            cost = stall + persist - tau;
        }
        if (double.IsPositiveInfinity(meanTimeToInterruption))
            return double.IsPositiveInfinity(interval) ? 0 : cost / (tau + cost);
        double m = meanTimeToInterruption;
        double segment = Math.Exp((restart + persist) / m) * m * ExpM1((tau + cost) / m);
        return Math.Clamp(1 - tau / segment, 0, 1);
    }

    private static double ExpM1(double x) => x < 1e-5 ? x + x * x / 2 + x * x * x / 6 : Math.Exp(x) - 1;

    private static void Check(double cost, double meanTimeToInterruption)
    {
        if (!(cost >= 0) || double.IsInfinity(cost)) throw new ArgumentOutOfRangeException(nameof(cost), cost, "The checkpoint cost must be a finite number >= 0.");
        if (!(meanTimeToInterruption > 0)) throw new ArgumentOutOfRangeException(nameof(meanTimeToInterruption), meanTimeToInterruption, "The mean time to interruption must be positive.");
    }

    private static void CheckPersist(double persist, double slowdown)
    {
        if (!(persist >= 0) || double.IsInfinity(persist)) throw new ArgumentOutOfRangeException(nameof(persist), persist, "The persist time must be a finite number >= 0.");
        if (!(slowdown >= 0) || slowdown >= 1) throw new ArgumentOutOfRangeException(nameof(slowdown), slowdown, "The slowdown must be in [0, 1).");
    }
}
