using SpotCheckpoint.Scheduling;

namespace SpotCheckpoint.Hosting;

/// <summary>
/// The checkpointer of a hosted application, bound from the configuration section <c>SpotCheckpoint</c>
/// (<see cref="SectionName"/>) and validated when the host starts. Every property maps to a configuration key of the
/// same name, for example <c>SpotCheckpoint:RunId</c> or, as an environment variable, <c>SpotCheckpoint__RunId</c>.
/// Unset values keep the defaults of <see cref="CheckpointerOptions"/>. See docs/configuration.md.
/// </summary>
public sealed class SpotCheckpointOptions
{
    /// <summary>The configuration section bound by default.</summary>
    public const string SectionName = "SpotCheckpoint";

    /// <summary>
    /// Where checkpoints go: a local path, a <c>file://</c> URI, or the URI of a registered store provider
    /// (<c>s3://bucket/prefix</c>, <c>gs://…</c>, <c>az://…</c>). Required unless an
    /// <see cref="Storage.ICheckpointStore"/> is registered in the container (for example by a provider package's
    /// <c>Add…CheckpointStore</c> or <see cref="SpotCheckpointBuilderExtensions.UseStore"/>); when both are present,
    /// this location wins.
    /// </summary>
    public string? Location { get; set; }

    /// <summary>Names the run; reusing it resumes. Default <c>default</c>.</summary>
    public string? RunId { get; set; }

    /// <summary>When to checkpoint: a fixed interval (default, 10 minutes), every N steps, adaptive, or manual.</summary>
    public PolicySettings Policy { get; } = new();

    /// <summary>Committed checkpoints retention keeps. Default 3.</summary>
    public int? KeepLast { get; set; }

    /// <summary>Largest shard file in bytes. Default 1 GiB.</summary>
    public long? MaxShardBytes { get; set; }

    /// <summary>Incremental checkpoints: each writes only the chunks that changed (format version 2). Default false.</summary>
    public bool? Incremental { get; set; }

    /// <summary>With <see cref="Incremental"/>: every K-th checkpoint rewrites every chunk; 0 or unset: never.</summary>
    public int? FullCheckpointEvery { get; set; }

    /// <summary>Staging buffer sets, 1 to 4. Default 1.</summary>
    public int? StagingBuffers { get; set; }

    /// <summary>What a due checkpoint does while the previous one is still persisting. Default <see cref="BusyBehavior.Wait"/>.</summary>
    public BusyBehavior? WhenBusy { get; set; }

    /// <summary>The longest a due checkpoint waits for a busy staging buffer. Default 30 s.</summary>
    public TimeSpan? MaxBusyWait { get; set; }

    /// <summary>Capture and restore the CPU random-number generator. Default true.</summary>
    public bool? CaptureCpuRng { get; set; }

    /// <summary>Seed of the per-step CUDA reseeding scheme. Default: none.</summary>
    public long? CudaSeed { get; set; }

    /// <summary>Uncommitted leftovers older than this are removed by retention; must be positive. Default 1 hour.</summary>
    public TimeSpan? IncompleteUploadMaxAge { get; set; }

    /// <summary>After this many failed checkpoints in a row, <c>Step</c> throws. Default: no limit.</summary>
    public int? MaxConsecutiveFailures { get; set; }

    /// <summary>Probe the location at start (create and delete a small object). Default true.</summary>
    public bool? ProbeLocation { get; set; }

    /// <summary>How long the start-up probe may take. Default 30 s.</summary>
    public TimeSpan? ProbeTimeout { get; set; }

    /// <summary>How long disposing waits for background persists before cancelling them. Default 2 minutes.</summary>
    public TimeSpan? DisposeTimeout { get; set; }

    /// <summary>Termination notices: the cloud to watch, the safety margin, host shutdown.</summary>
    public NoticeSettings Notices { get; } = new();

    /// <summary>Prices for the cost estimate of the metrics (<c>spotcheckpoint.cost.savings</c>). Off by default.</summary>
    public CostSettings Cost { get; } = new();
}

/// <summary>Which checkpoint policy a hosted checkpointer uses (<c>SpotCheckpoint:Policy:Kind</c>).</summary>
public enum PolicyKind
{
    /// <summary>A checkpoint once <see cref="PolicySettings.Interval"/> has passed (default 10 minutes).</summary>
    Interval,

    /// <summary>A checkpoint every <see cref="PolicySettings.Steps"/> steps.</summary>
    Steps,

    /// <summary>The adaptive Young/Daly policy, tuned by <see cref="PolicySettings.Adaptive"/>.</summary>
    Adaptive,

    /// <summary>No automatic checkpoints: only <see cref="Checkpointer.CheckpointAsync"/> and emergency checkpoints.</summary>
    Manual,
}

/// <summary>The checkpoint policy (<c>SpotCheckpoint:Policy</c>).</summary>
public sealed class PolicySettings
{
    /// <summary>The policy. Default <see cref="PolicyKind.Interval"/>.</summary>
    public PolicyKind Kind { get; set; } = PolicyKind.Interval;

    /// <summary>The interval of <see cref="PolicyKind.Interval"/>, for example <c>00:10:00</c>. Default 10 minutes.</summary>
    public TimeSpan? Interval { get; set; }

    /// <summary>The step count of <see cref="PolicyKind.Steps"/>. Required for that kind.</summary>
    public long? Steps { get; set; }

    /// <summary>Tuning of <see cref="PolicyKind.Adaptive"/>; unset values keep the policy's defaults.</summary>
    public AdaptivePolicySettings Adaptive { get; } = new();
}

/// <summary>
/// Tuning of the adaptive policy (<c>SpotCheckpoint:Policy:Adaptive</c>); each maps to the property of the same name
/// of <see cref="AdaptiveCheckpointPolicyOptions"/>, whose defaults apply to unset values.
/// </summary>
public sealed class AdaptivePolicySettings
{
    /// <summary>The prior interruption rate per hour (overrides the GPU family's).</summary>
    public double? HazardPerHour { get; set; }

    /// <summary>The GPU the job runs on (H100, A100, …); chooses the prior.</summary>
    public GpuFamily? GpuFamily { get; set; }

    /// <summary>The cloud instance type, used to detect the GPU family (<c>p5.48xlarge</c>, …).</summary>
    public string? InstanceType { get; set; }

    /// <summary>Hours of observation the prior is worth. Default 24.</summary>
    public double? PriorWeightHours { get; set; }

    /// <summary>Weekend hazard relative to weekdays, (0, 1]. Default 0.6.</summary>
    public double? WeekendFactor { get; set; }

    /// <summary>The shortest interval between checkpoints. Default 30 s.</summary>
    public TimeSpan? MinInterval { get; set; }

    /// <summary>The longest interval between checkpoints. Default 30 minutes.</summary>
    public TimeSpan? MaxInterval { get; set; }

    /// <summary>Checkpoint cost assumed until one has been measured. Default 2 s.</summary>
    public TimeSpan? InitialCheckpointCost { get; set; }

    /// <summary>Share of the persist time counted as cost to training, [0, 1]. Default 0.1.</summary>
    public double? PersistCostFraction { get; set; }

    /// <summary>Probability that an interruption is announced early enough, [0, 1). Default 0.</summary>
    public double? NoticeCoverage { get; set; }
}

/// <summary>Which cloud's termination notices to watch (<c>SpotCheckpoint:Notices:Cloud</c>).</summary>
public enum CloudNotices
{
    /// <summary>None (default): only host shutdown and notices you raise.</summary>
    None,

    /// <summary>Probe AWS, GCP and Azure metadata services at start and watch the one that answers.</summary>
    Auto,

    /// <summary>AWS EC2 spot instance actions and rebalance recommendations.</summary>
    Aws,

    /// <summary>GCP preemption and host maintenance.</summary>
    Gcp,

    /// <summary>Azure Scheduled Events.</summary>
    Azure,
}

/// <summary>Termination notices (<c>SpotCheckpoint:Notices</c>).</summary>
public sealed class NoticeSettings
{
    /// <summary>The cloud notices to watch. Default <see cref="CloudNotices.None"/>.</summary>
    public CloudNotices Cloud { get; set; } = CloudNotices.None;

    /// <summary>Subtracted from every deadline. Default 5 s.</summary>
    public TimeSpan? SafetyMargin { get; set; }

    /// <summary>
    /// A notice with more time left keeps training until this long (or the last checkpoint's padded time) before its
    /// deadline. Default 2 minutes.
    /// </summary>
    public TimeSpan? EmergencyLeadTime { get; set; }

    /// <summary>
    /// Treat host shutdown (<c>IHostApplicationLifetime.ApplicationStopping</c>: SIGTERM, Ctrl-C, StopApplication)
    /// as a termination notice, so the training loop's next step takes an emergency checkpoint and the host's
    /// shutdown waits for its commit. Default true.
    /// </summary>
    public bool HostShutdown { get; set; } = true;

    /// <summary>
    /// The time left that a host-shutdown notice announces. Default null: the host's
    /// <c>HostOptions.ShutdownTimeout</c> (30 s unless configured), which bounds how long the host waits for the
    /// emergency checkpoint. Set it only to announce less than that timeout.
    /// </summary>
    public TimeSpan? HostShutdownTimeLeft { get; set; }
}

/// <summary>Prices for the cost estimate (<c>SpotCheckpoint:Cost</c>); set both or neither.</summary>
public sealed class CostSettings
{
    /// <summary>Hourly on-demand price of the machine, in any currency.</summary>
    public double? OnDemandPricePerHour { get; set; }

    /// <summary>Hourly spot price of the same machine, in the same currency.</summary>
    public double? SpotPricePerHour { get; set; }
}
