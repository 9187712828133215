using SpotCheckpoint.Scheduling;

namespace SpotCheckpoint.Benchmarks;

/// <summary>A policy that says "due" once after each <see cref="Arm"/>, so a benchmark takes a checkpoint through
/// <see cref="Checkpointer.Step"/> (the stall on the calling thread, the persist in the background) when it wants.</summary>
internal sealed class ArmedPolicy : CheckpointPolicy
{
    private int _armed;

    public void Arm() => Volatile.Write(ref _armed, 1);

    public override bool IsDue(long step, long lastCheckpointStep, TimeSpan sinceLastCheckpoint) =>
        step > lastCheckpointStep && Interlocked.Exchange(ref _armed, 0) == 1;
}
