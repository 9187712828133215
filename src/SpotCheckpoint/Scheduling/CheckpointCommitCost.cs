namespace SpotCheckpoint.Scheduling;

/// <summary>What one committed checkpoint cost, as the checkpointer measured it; passed to <see cref="CheckpointPolicy.OnCheckpointCommitted(CheckpointCommitCost)"/>.</summary>
/// <param name="Stall">How long the training thread was blocked by the snapshot.</param>
/// <param name="Persist">From the end of the snapshot to the commit.</param>
/// <param name="Bytes">Bytes written.</param>
public readonly record struct CheckpointCommitCost(TimeSpan Stall, TimeSpan Persist, long Bytes)
{
    /// <summary>
    /// How long the GPU's default stream waited for the snapshot's device-to-host copy (CUDA events around the
    /// fence); zero for CPU tensors or when not measured. Training loses the longer of this and <see cref="Stall"/>.
    /// </summary>
    public TimeSpan DeviceStall { get; init; }

    /// <summary>
    /// Training time lost while the persist was in flight (steps slower than without a persist), when the caller
    /// measured it; null lets an adaptive policy measure it from the step times it sees.
    /// </summary>
    public TimeSpan? PersistSlowdown { get; init; }

    /// <summary>What training lost to the snapshot itself: the longer of <see cref="Stall"/> and <see cref="DeviceStall"/>.</summary>
    public TimeSpan EffectiveStall => DeviceStall > Stall ? DeviceStall : Stall;
}
