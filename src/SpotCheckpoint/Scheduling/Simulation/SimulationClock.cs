namespace SpotCheckpoint.Scheduling.Simulation;

/// <summary>The simulated clock the replayed policies read: starts on a Monday, 00:00 UTC, moves only when told.</summary>
internal sealed class SimulationClock : TimeProvider
{
    private static readonly DateTimeOffset Start = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private long _ticks;

    public void Set(double seconds) => _ticks = (long)(seconds * TimeSpan.TicksPerSecond);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => _ticks;

    public override DateTimeOffset GetUtcNow() => Start.AddTicks(_ticks);
}
