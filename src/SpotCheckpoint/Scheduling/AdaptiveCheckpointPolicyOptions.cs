namespace SpotCheckpoint.Scheduling;

/// <summary>Options of an <see cref="AdaptiveCheckpointPolicy"/>. Every default is documented in docs/scheduling.md.</summary>
public sealed class AdaptiveCheckpointPolicyOptions
{
    /// <summary>
    /// The hazard model to use, for example one restored with <see cref="HazardModel.BeginAttemptAsync"/>. When
    /// null (default), the policy builds one from <see cref="HazardPerHour"/>, <see cref="GpuFamily"/> or
    /// <see cref="InstanceType"/>, <see cref="PriorWeightHours"/> and <see cref="WeekendFactor"/>.
    /// </summary>
    public HazardModel? Hazard { get; set; }

    /// <summary>The prior interruption rate per hour; overrides the GPU family's prior. Null (default) uses the family's.</summary>
    public double? HazardPerHour { get; set; }

    /// <summary>The GPU the job runs on; chooses the prior (<see cref="HazardPriors"/>). Default: detected from <see cref="InstanceType"/>.</summary>
    public GpuFamily GpuFamily { get; set; } = GpuFamily.Unknown;

    /// <summary>
    /// The cloud instance type (<c>p5.48xlarge</c>, <c>a2-highgpu-1g</c>, <c>Standard_ND96isr_H100_v5</c>), used to
    /// detect the GPU family when <see cref="GpuFamily"/> is <see cref="Scheduling.GpuFamily.Unknown"/>.
    /// </summary>
    public string? InstanceType { get; set; }

    /// <summary>How many hours of observation the prior is worth. Default 24.</summary>
    public double PriorWeightHours { get; set; } = 24;

    /// <summary>Hazard on Saturdays and Sundays (UTC) relative to weekdays; 1 turns it off. Default 0.6.</summary>
    public double WeekendFactor { get; set; } = HazardPriors.WeekendFactor;

    /// <summary>The shortest interval between checkpoints. Default 30 s.</summary>
    public TimeSpan MinInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The longest interval between checkpoints, whatever the model says. Default 30 minutes: it limits the work a
    /// too optimistic prior puts at risk before interruptions correct it, at a price where the optimum is longer (a
    /// stall of 30 s at 0.8 %/h: optimum 86 minutes, 1.6× its waste at 30; see docs/scheduling.md).
    /// </summary>
    public TimeSpan MaxInterval { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>δ assumed until the first checkpoint has been measured. Default 2 s.</summary>
    public TimeSpan InitialCheckpointCost { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// s until it is measured: the share of training speed lost while a background persist is in flight (shards
    /// checksummed and uploaded on the same cores), 0–1; training then pays stall + s × persist per checkpoint. The
    /// policy replaces it with the slowdown it measures from step times with and without a persist in flight, or
    /// with <see cref="CheckpointCommitCost.PersistSlowdown"/> when the checkpointer reports it. Default 0.1.
    /// </summary>
    public double PersistCostFraction { get; set; } = 0.1;

    /// <summary>Weight of the newest checkpoint in the δ average (EWMA), 0–1. Default 0.3.</summary>
    public double CostSmoothing { get; set; } = 0.3;

    /// <summary>Weight of the newest step in the step-duration average (EWMA), 0–1. Default 0.1.</summary>
    public double StepSmoothing { get; set; } = 0.1;

    /// <summary>
    /// The probability that an interruption comes with a notice early enough for an emergency checkpoint, 0–1
    /// (below 1). Periodic checkpoints then only need to cover the rest: M = 1 / (λ × (1 − coverage)). Default 0:
    /// notices are best effort, so none is relied on.
    /// </summary>
    public double NoticeCoverage { get; set; }

    /// <summary>How much <see cref="AdaptiveCheckpointPolicy.RaiseRisk"/> multiplies the hazard. Default 10.</summary>
    public double RiskHazardMultiplier { get; set; } = 10;

    /// <summary>How long a raised risk lasts when the caller does not say. Default 30 minutes.</summary>
    public TimeSpan RiskDuration { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>The clock; the system clock by default. Give the checkpointer the same one.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal void Validate()
    {
        if (HazardPerHour is { } h && (!(h > 0) || double.IsInfinity(h)))
            throw new ArgumentOutOfRangeException(nameof(HazardPerHour), h, "HazardPerHour must be a positive rate per hour.");
        if (!(PriorWeightHours > 0) || double.IsInfinity(PriorWeightHours))
            throw new ArgumentOutOfRangeException(nameof(PriorWeightHours), PriorWeightHours, "PriorWeightHours must be positive.");
        if (!(WeekendFactor > 0) || WeekendFactor > 1)
            throw new ArgumentOutOfRangeException(nameof(WeekendFactor), WeekendFactor, "WeekendFactor must be in (0, 1].");
        if (MinInterval <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(MinInterval), MinInterval, "MinInterval must be positive.");
        if (MaxInterval < MinInterval)
            throw new ArgumentOutOfRangeException(nameof(MaxInterval), MaxInterval, "MaxInterval cannot be shorter than MinInterval.");
        if (InitialCheckpointCost < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(InitialCheckpointCost), InitialCheckpointCost, "InitialCheckpointCost cannot be negative.");
        if (!(PersistCostFraction >= 0) || PersistCostFraction > 1)
            throw new ArgumentOutOfRangeException(nameof(PersistCostFraction), PersistCostFraction, "PersistCostFraction must be in [0, 1].");
        if (!(CostSmoothing > 0) || CostSmoothing > 1)
            throw new ArgumentOutOfRangeException(nameof(CostSmoothing), CostSmoothing, "CostSmoothing must be in (0, 1].");
        if (!(StepSmoothing > 0) || StepSmoothing > 1)
            throw new ArgumentOutOfRangeException(nameof(StepSmoothing), StepSmoothing, "StepSmoothing must be in (0, 1].");
        if (!(NoticeCoverage >= 0) || NoticeCoverage >= 1)
            throw new ArgumentOutOfRangeException(nameof(NoticeCoverage), NoticeCoverage, "NoticeCoverage must be in [0, 1).");
        if (!(RiskHazardMultiplier >= 1) || double.IsInfinity(RiskHazardMultiplier))
            throw new ArgumentOutOfRangeException(nameof(RiskHazardMultiplier), RiskHazardMultiplier, "RiskHazardMultiplier must be at least 1.");
        if (RiskDuration <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(RiskDuration), RiskDuration, "RiskDuration must be positive.");
        if (TimeProvider is null) throw new ArgumentException("TimeProvider is required.", nameof(TimeProvider));
    }
}
