using SpotCheckpoint.Notices;
using SpotCheckpoint.Scheduling;

namespace SpotCheckpoint;

/// <summary>What to do when a checkpoint is due while the previous one is still being persisted.</summary>
public enum BusyBehavior
{
    /// <summary>Wait for the persist to finish, up to <see cref="CheckpointerOptions.MaxBusyWait"/>, then skip.</summary>
    Wait,

    /// <summary>Skip this checkpoint at once (counted and logged); training never waits.</summary>
    Skip,
}

/// <summary>Options of a <see cref="Checkpointer"/>.</summary>
public sealed class CheckpointerOptions
{
    /// <summary>
    /// Names the training run; checkpoints live under <c>&lt;RunId&gt;/step-N/</c>. Reusing the id resumes the run.
    /// 1–128 letters, digits, '.', '_' or '-'. Default <c>default</c>.
    /// </summary>
    public string RunId { get; set; } = "default";

    /// <summary>When to checkpoint automatically. Default: every 10 minutes.</summary>
    public CheckpointPolicy Policy { get; set; } = CheckpointPolicy.Every(TimeSpan.FromMinutes(10));

    /// <summary>How many committed checkpoints retention keeps (newest first). At least 1; default 3.</summary>
    public int KeepLast { get; set; } = 3;

    /// <summary>Largest shard file; a tensor larger than this gets a shard of its own. Default 1 GiB. (It also bounds a chunk pack of an incremental checkpoint.)</summary>
    public long MaxShardBytes { get; set; } = 1L << 30;

    /// <summary>
    /// Incremental checkpoints (format version 2): tensor bytes are cut into content-addressed chunks, and a
    /// checkpoint writes only the chunks no earlier checkpoint of the run holds; the rest are referenced.
    /// Retention then removes a chunk only when no kept checkpoint references it. Default false (format version 1,
    /// every checkpoint self-contained). See docs/concepts.md.
    /// </summary>
    public bool Incremental { get; set; }

    /// <summary>
    /// With <see cref="Incremental"/>: every K-th checkpoint of the process rewrites every chunk (an independent copy,
    /// so that damage to one stored chunk cannot reach past it), at the cost of a full write. An emergency checkpoint is
    /// never a full one (it is postponed to the next checkpoint). Null or 0 (default): never.
    /// </summary>
    public int? FullCheckpointEvery { get; set; }

    /// <summary>
    /// Staging buffer sets (each one copy of the state). 1 keeps memory at one copy; 2 lets a new snapshot be taken
    /// while the previous one is still persisting. Default 1.
    /// </summary>
    public int StagingBuffers { get; set; } = 1;

    /// <summary>What a due checkpoint does while all staging buffers are still persisting. Default <see cref="BusyBehavior.Wait"/>.</summary>
    public BusyBehavior WhenBusy { get; set; } = BusyBehavior.Wait;

    /// <summary>The longest <see cref="BusyBehavior.Wait"/> blocks training before the checkpoint is skipped. Default 30 s.</summary>
    public TimeSpan MaxBusyWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Capture and restore the CPU random-number generator. Default true.</summary>
    public bool CaptureCpuRng { get; set; } = true;

    /// <summary>
    /// Seed of the deterministic CUDA RNG scheme. LibTorch's CUDA generator state cannot be read through
    /// TorchSharp, so when this is set and CUDA is available, every CUDA generator is reseeded at each step
    /// boundary from (seed, step); straight and resumed runs then draw the same CUDA random numbers. Null (default)
    /// leaves CUDA generators alone.
    /// </summary>
    public long? CudaSeed { get; set; }

    /// <summary>
    /// How a snapshot of CUDA tensors keeps training from changing them before the device-to-host copy has read
    /// them (default <see cref="Staging.Cuda.CudaStagingMode.FenceDefaultStream"/>). With
    /// <see cref="Staging.Cuda.CudaStagingMode.FenceOptimizerStep"/> call <see cref="Checkpointer.BeforeOptimizerStep"/>
    /// before every <c>optimizer.step()</c>. Ignored for CPU state.
    /// </summary>
    public Staging.Cuda.CudaStagingMode CudaStagingMode { get; set; } = Staging.Cuda.CudaStagingMode.FenceDefaultStream;

    /// <summary>
    /// Uncommitted leftovers (from crashed writers) older than this are deleted by retention. Must be positive (a zero
    /// age would abort uploads still running); default 1 hour. No clean-up runs while a step of this run is in flight.
    /// </summary>
    public TimeSpan IncompleteUploadMaxAge { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Where the checkpointer records its metrics; <see cref="Diagnostics.SpotCheckpointMetrics.Shared"/> when null
    /// (default). See docs/metrics.md.
    /// </summary>
    public Diagnostics.SpotCheckpointMetrics? Metrics { get; set; }

    /// <summary>
    /// Termination notices to watch (none by default): add sources with <c>Notices.UseSignals()</c>,
    /// <c>UseAwsSpotNotices()</c>, <c>UseGcpPreemptionNotices()</c>, <c>UseAzureScheduledEvents()</c> or
    /// <c>UseCloudAutoDetection()</c>. After a termination notice the next <see cref="Checkpointer.Step"/> takes an
    /// emergency checkpoint and sets <see cref="Checkpointer.StopRequested"/>.
    /// </summary>
    public NoticeOptions Notices { get; } = new();

    /// <summary>
    /// Called after each commit (on the persist's thread, before the checkpoint's staging buffers are freed: keep it
    /// short). An exception it throws is logged and does not affect the checkpoint.
    /// </summary>
    public Func<CheckpointCommittedArguments, ValueTask>? OnCommitted { get; set; }

    /// <summary>Called after a checkpoint failed (it stays invisible). An exception it throws is logged.</summary>
    public Func<CheckpointPersistFailedArguments, ValueTask>? OnPersistFailed { get; set; }

    /// <summary>Called (in the background) when a due checkpoint is skipped because every staging buffer was busy.</summary>
    public Func<CheckpointSkippedArguments, ValueTask>? OnSkipped { get; set; }

    /// <summary>
    /// After this many failed checkpoints in a row, <see cref="Checkpointer.Step"/> throws
    /// <see cref="TooManyCheckpointFailuresException"/> rather than let the run train on unprotected. Null (default)
    /// never stops; at least 1 otherwise. A commit resets the count.
    /// </summary>
    public int? MaxConsecutiveFailures { get; set; }

    /// <summary>
    /// Probe the location at start (create and delete a small object under the run's prefix), so that an unwritable
    /// location fails with <see cref="CheckpointLocationException"/> before training. Default true; turn it off only
    /// to resume from a location that is read-only on purpose.
    /// </summary>
    public bool ProbeLocation { get; set; } = true;

    /// <summary>How long the location probe may take before it counts as failed. Default 30 s.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long <see cref="Checkpointer.DisposeAsync"/> waits for background persists and retention before it
    /// cancels them (an unfinished checkpoint stays invisible). Default 2 minutes.
    /// </summary>
    public TimeSpan DisposeTimeout { get; set; } = TimeSpan.FromMinutes(2);
    /// <summary>The machine's type, region and prices, recorded in each manifest's history for <c>spotckpt report</c>.</summary>
    public Diagnostics.CostOptions Cost { get; } = new();

    internal void Validate()
    {
        Storage.StoreKeys.ValidateRunId(RunId);
        if (Policy is null) throw new ArgumentException("Policy is required.", nameof(Policy));
        if (!Enum.IsDefined(CudaStagingMode)) throw new ArgumentOutOfRangeException(nameof(CudaStagingMode), CudaStagingMode, "CudaStagingMode is not a known mode.");
        if (KeepLast < 1) throw new ArgumentOutOfRangeException(nameof(KeepLast), KeepLast, "KeepLast must be at least 1.");
        if (MaxShardBytes < 1 << 20) throw new ArgumentOutOfRangeException(nameof(MaxShardBytes), MaxShardBytes, "MaxShardBytes must be at least 1 MiB.");
        if (FullCheckpointEvery is < 0) throw new ArgumentOutOfRangeException(nameof(FullCheckpointEvery), FullCheckpointEvery, "FullCheckpointEvery cannot be negative (0 or null: never).");
        if (StagingBuffers is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(StagingBuffers), StagingBuffers, "StagingBuffers must be 1 to 4.");
        if (MaxBusyWait < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MaxBusyWait), MaxBusyWait, "MaxBusyWait cannot be negative.");
        if (IncompleteUploadMaxAge <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(IncompleteUploadMaxAge), IncompleteUploadMaxAge, "IncompleteUploadMaxAge must be positive: a zero age would abort uploads that are still running.");
        if (MaxConsecutiveFailures is < 1) throw new ArgumentOutOfRangeException(nameof(MaxConsecutiveFailures), MaxConsecutiveFailures, "MaxConsecutiveFailures must be at least 1 (or null for no limit).");
        if (ProbeTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ProbeTimeout), ProbeTimeout, "ProbeTimeout must be positive.");
        if (DisposeTimeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(DisposeTimeout), DisposeTimeout, "DisposeTimeout cannot be negative.");
        Notices.Validate();
        Cost.Validate();
    }
}
