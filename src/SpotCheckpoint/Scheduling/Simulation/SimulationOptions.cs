namespace SpotCheckpoint.Scheduling.Simulation;

/// <summary>The job and the interruptions <see cref="CheckpointSimulator"/> replays. Defaults: an H100 job on spot.</summary>
public sealed class SimulationOptions
{
    /// <summary>Interruptions per hour of a memoryless (Poisson) process. Default 0.041 (4.1 %/h).</summary>
    public double HazardPerHour { get; set; } = HazardPriors.H100PerHour;

    /// <summary>
    /// The prior the adaptive policy starts from, per hour; null (default) gives it <see cref="HazardPerHour"/>.
    /// Set it apart to see how fast a wrong prior is corrected.
    /// </summary>
    public double? AdaptivePriorPerHour { get; set; }

    /// <summary>
    /// <see cref="AdaptiveCheckpointPolicyOptions.MaxInterval"/> of the simulated adaptive policy; null (default)
    /// keeps the policy's default (30 minutes). Raise it to compare with optima longer than that.
    /// </summary>
    public TimeSpan? AdaptiveMaxInterval { get; set; }

    /// <summary>The probability that an interruption is announced <see cref="NoticeLead"/> ahead. Default 0.</summary>
    public double NoticeProbability { get; set; }

    /// <summary>How long before the interruption a notice arrives. Default 120 s (AWS).</summary>
    public TimeSpan NoticeLead { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>The duration of one training step. Default 1 s.</summary>
    public TimeSpan StepDuration { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a snapshot blocks training. Default 1 s.</summary>
    public TimeSpan Stall { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>From the end of a snapshot to its commit (the background upload). Default 10 s.</summary>
    public TimeSpan Persist { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// s: the share of training speed lost while a persist is in flight, 0 ≤ s &lt; 1 (steps take 1/(1 − s) as long
    /// until the commit), so each checkpoint costs training s × <see cref="Persist"/> on top of the stall; the same
    /// meaning as <see cref="AdaptiveCheckpointPolicyOptions.PersistCostFraction"/>, which the adaptive policy replaces
    /// with what it measures. Default 0.1.
    /// </summary>
    public double PersistCostFraction { get; set; } = 0.1;

    /// <summary>From an interruption until training runs again on a new machine (boot, resume). Default 300 s.</summary>
    public TimeSpan Restart { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>Wall-clock hours each simulated run lasts. Default 24.</summary>
    public double Hours { get; set; } = 24;

    /// <summary>How many runs to average over. Default 200.</summary>
    public int Runs { get; set; } = 200;

    /// <summary>Seed of the random interruptions and notices; equal seeds give equal reports. Default 1.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>
    /// Interruption times in seconds from the start of a run (<see cref="InterruptionTrace"/>), replayed in every run
    /// instead of random ones; <see cref="HazardPerHour"/> then only seeds the adaptive policy's prior. Null by default.
    /// </summary>
    public IReadOnlyList<double>? Trace { get; set; }

    /// <summary>The fixed time-based policy to compare with. Default 30 minutes.</summary>
    public TimeSpan FixedInterval { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Hourly price of the machine on demand (any currency). Default 1.00, so costs read as fractions of it.</summary>
    public double OnDemandPricePerHour { get; set; } = 1.0;

    /// <summary>Hourly price of the same machine on spot. Default 0.30 (a 70 % discount).</summary>
    public double SpotPricePerHour { get; set; } = 0.3;

    /// <summary>What one checkpoint costs training: stall + s × persist, in seconds (the persist itself only delays the commit).</summary>
    public double CheckpointCostSeconds => Stall.TotalSeconds + PersistCostFraction * Persist.TotalSeconds;

    /// <summary>The interruption rate the job sees: the trace's when one is given, else <see cref="HazardPerHour"/>.</summary>
    public double EffectiveHazardPerHour => Trace is { } trace ? trace.Count(t => t < Hours * 3600) / Hours : HazardPerHour;

    internal void Validate()
    {
        static void Positive(TimeSpan value, string name)
        {
            if (value <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive.");
        }
        static void NotNegative(TimeSpan value, string name)
        {
            if (value < TimeSpan.Zero) throw new ArgumentOutOfRangeException(name, value, $"{name} cannot be negative.");
        }
        static void Fraction(double value, string name)
        {
            if (!(value >= 0) || value > 1) throw new ArgumentOutOfRangeException(name, value, $"{name} must be between 0 and 1.");
        }
        static void Finite(double value, string name, bool positive)
        {
            if (double.IsNaN(value) || double.IsInfinity(value) || value < 0 || (positive && value == 0))
                throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number {(positive ? "> 0" : ">= 0")}.");
        }
        Finite(HazardPerHour, nameof(HazardPerHour), positive: Trace is null);
        if (AdaptivePriorPerHour is { } prior) Finite(prior, nameof(AdaptivePriorPerHour), positive: true);
        Fraction(NoticeProbability, nameof(NoticeProbability));
        NotNegative(NoticeLead, nameof(NoticeLead));
        Positive(StepDuration, nameof(StepDuration));
        NotNegative(Stall, nameof(Stall));
        NotNegative(Persist, nameof(Persist));
        Fraction(PersistCostFraction, nameof(PersistCostFraction));
        if (PersistCostFraction >= 1) throw new ArgumentOutOfRangeException(nameof(PersistCostFraction), PersistCostFraction, "PersistCostFraction must be below 1 (training stops entirely at 1).");
        NotNegative(Restart, nameof(Restart));
        Finite(Hours, nameof(Hours), positive: true);
        if (Runs < 1) throw new ArgumentOutOfRangeException(nameof(Runs), Runs, "Runs must be at least 1.");
        Positive(FixedInterval, nameof(FixedInterval));
        if (AdaptiveMaxInterval is { } max) Positive(max, nameof(AdaptiveMaxInterval));
        Finite(OnDemandPricePerHour, nameof(OnDemandPricePerHour), positive: false);
        Finite(SpotPricePerHour, nameof(SpotPricePerHour), positive: false);
        if (Hours * 3600 / StepDuration.TotalSeconds > 1e10)
            throw new ArgumentOutOfRangeException(nameof(Hours), Hours, "Too many steps per run: raise the step duration or lower the hours.");
    }
}
