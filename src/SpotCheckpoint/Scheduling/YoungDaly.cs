namespace SpotCheckpoint.Scheduling;

/// <summary>
/// The optimum checkpoint interval and the expected waste of periodic checkpointing when interruptions arrive as a
/// Poisson process (exponential times to interruption). All quantities are in seconds.
/// </summary>
/// <remarks>
/// Young (1974), "A first order approximation to the optimum checkpoint interval", Communications of the ACM 17(9):
/// τ = √(2δM). Daly (2006), "A higher order estimate of the optimum checkpoint interval for restart dumps", Future
/// Generation Computer Systems 22(3): τ = √(2δM)·[1 + ⅓√(δ/2M) + ⅑(δ/2M)] − δ for δ &lt; 2M, else τ = M; and the
/// expected wall time per segment T(τ) = e^{R/M}·M·(e^{(τ+δ)/M} − 1). Here τ is the compute time between
/// checkpoints, δ what one checkpoint costs training, M the mean time to interruption, R the restart time. See
/// docs/scheduling.md.
/// </remarks>
public static class YoungDaly
{
    /// <summary>Young's first-order optimum √(2δM).</summary>
    /// <param name="cost">δ: what one checkpoint costs training, in seconds.</param>
    /// <param name="meanTimeToInterruption">M, in seconds.</param>
    public static double YoungInterval(double cost, double meanTimeToInterruption)
    {
        Check(cost, meanTimeToInterruption);
        return Math.Sqrt(2 * cost * meanTimeToInterruption);
    }

    /// <summary>Daly's higher-order optimum; close to Young's when δ ≪ M, and M itself once δ ≥ 2M.</summary>
    /// <param name="cost">δ: what one checkpoint costs training, in seconds.</param>
    /// <param name="meanTimeToInterruption">M, in seconds; <see cref="double.PositiveInfinity"/> when nothing interrupts.</param>
    public static double DalyInterval(double cost, double meanTimeToInterruption)
    {
        Check(cost, meanTimeToInterruption);
        if (double.IsPositiveInfinity(meanTimeToInterruption)) return double.PositiveInfinity;
        if (cost >= 2 * meanTimeToInterruption) return meanTimeToInterruption;
        double x = cost / (2 * meanTimeToInterruption);
        double tau = Math.Sqrt(2 * cost * meanTimeToInterruption) * (1 + Math.Sqrt(x) / 3 + x / 9) - cost;
        // For tiny δ the correction can round to a hair below zero; a checkpoint interval is never negative.
        return Math.Max(tau, 0);
    }

    /// <summary>
    /// The expected fraction of wall-clock GPU time that does not turn into kept training progress, for checkpoints
    /// every <paramref name="interval"/> seconds of compute: 1 − τ/T(τ) from Daly's model, plus λ·L for a
    /// checkpoint that commits <paramref name="commitLatency"/> seconds after its snapshot (an interruption in that
    /// window also loses the previous interval; first order in λL).
    /// </summary>
    /// <param name="interval">τ, compute seconds between checkpoints (positive).</param>
    /// <param name="cost">δ, seconds each checkpoint costs training.</param>
    /// <param name="meanTimeToInterruption">M, in seconds.</param>
    /// <param name="restart">R, seconds from an interruption until training runs again.</param>
    /// <param name="commitLatency">L, seconds from the end of a snapshot until it is committed.</param>
    public static double ExpectedWasteFraction(double interval, double cost, double meanTimeToInterruption, double restart = 0, double commitLatency = 0)
    {
        Check(cost, meanTimeToInterruption);
        if (!(interval > 0)) throw new ArgumentOutOfRangeException(nameof(interval), interval, "The interval must be positive.");
        if (!(restart >= 0)) throw new ArgumentOutOfRangeException(nameof(restart), restart, "The restart time cannot be negative.");
        if (!(commitLatency >= 0)) throw new ArgumentOutOfRangeException(nameof(commitLatency), commitLatency, "The commit latency cannot be negative.");
        if (double.IsPositiveInfinity(meanTimeToInterruption)) return double.IsPositiveInfinity(interval) ? 0 : cost / (interval + cost);
        double m = meanTimeToInterruption;
        double segment = Math.Exp(restart / m) * m * ExpM1((interval + cost) / m);
        double waste = 1 - interval / segment + Math.Min(commitLatency, interval) / m;
        return Math.Clamp(waste, 0, 1);
    }

    private static double ExpM1(double x) => x < 1e-5 ? x + x * x / 2 + x * x * x / 6 : Math.Exp(x) - 1;

    private static void Check(double cost, double meanTimeToInterruption)
    {
        if (!(cost >= 0) || double.IsInfinity(cost)) throw new ArgumentOutOfRangeException(nameof(cost), cost, "The checkpoint cost must be a finite number >= 0.");
        if (!(meanTimeToInterruption > 0)) throw new ArgumentOutOfRangeException(nameof(meanTimeToInterruption), meanTimeToInterruption, "The mean time to interruption must be positive.");
    }
}
