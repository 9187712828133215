namespace SpotCheckpoint;

/// <summary>A committed checkpoint, as reported by <see cref="Checkpointer.CheckpointAsync"/>.</summary>
/// <param name="RunId">The run.</param>
/// <param name="Step">The step it captured.</param>
/// <param name="Bytes">Bytes written (shards or chunk packs, and the manifest).</param>
/// <param name="Stall">How long training was blocked while the state was copied into staging buffers.</param>
/// <param name="PersistDuration">From the end of the snapshot to the committed manifest.</param>
public sealed record CheckpointResult(string RunId, long Step, long Bytes, TimeSpan Stall, TimeSpan PersistDuration)
{
    /// <summary>
    /// Incremental checkpoints: tensor bytes not written because an earlier checkpoint of the run already stored
    /// them (the checkpoint references them); 0 otherwise.
    /// </summary>
    public long BytesReused { get; init; }
}

/// <summary>The outcome of <see cref="Checkpointer.ResumeAsync"/>.</summary>
/// <param name="Resumed">True when state was restored from a checkpoint; false for a fresh start.</param>
/// <param name="Step">The restored step (0 when fresh): continue training with step + 1.</param>
/// <param name="Epoch">The restored epoch counter.</param>
/// <param name="SkippedCheckpoints">Newer checkpoints that were rejected (corrupt, not fitting, unreadable) before this one was used, newest first.</param>
public sealed record ResumeResult(bool Resumed, long Step, long Epoch, IReadOnlyList<CheckpointException> SkippedCheckpoints)
{
    /// <summary>
    /// Committed checkpoints newer than <see cref="Step"/> that were kept but not used: an abandoned timeline. They never
    /// count as the run's newest for retention, the run's own commit of the same step replaces them, and retention
    /// deletes them once the run has committed a step at or past them (see docs/concepts.md).
    /// </summary>
    public IReadOnlyList<long> AbandonedSteps { get; init; } = Array.Empty<long>();
}

/// <summary>Counters of a <see cref="Checkpointer"/> since it was created.</summary>
public sealed record CheckpointerStatistics
{
    /// <summary>Checkpoints committed.</summary>
    public long Committed { get; init; }
    /// <summary>Checkpoints skipped because the previous one was still persisting.</summary>
    public long Skipped { get; init; }
    /// <summary>Checkpoints whose persist failed (they stay invisible).</summary>
    public long Failed { get; init; }
    /// <summary>Stall of the most recent snapshot.</summary>
    public TimeSpan LastStall { get; init; }
    /// <summary>
    /// How long the GPU's default stream waited for the device-to-host copies of the most recent committed
    /// checkpoint that measured it (CUDA state only); null while none has.
    /// </summary>
    public TimeSpan? LastDeviceStall { get; init; }
    /// <summary>Persist time of the most recent committed checkpoint.</summary>
    public TimeSpan LastPersistDuration { get; init; }
    /// <summary>Bytes of the most recent committed checkpoint.</summary>
    public long LastBytes { get; init; }
    /// <summary>Bytes written by every checkpoint this checkpointer committed.</summary>
    public long BytesWritten { get; init; }
    /// <summary>Bytes every committed checkpoint referenced instead of writing them (incremental checkpoints).</summary>
    public long BytesReused { get; init; }
    /// <summary>Host memory held by staging buffers.</summary>
    public long StagingBytes { get; init; }
    /// <summary>The most recent persist failure, if any.</summary>
    public Exception? LastError { get; init; }
}
