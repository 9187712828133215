using Microsoft.Extensions.Time.Testing;
using SpotCheckpoint.Scheduling;

namespace SpotCheckpoint.Tests.Scheduling;

/// <summary>
/// Drives a policy the way <see cref="Checkpointer.Step"/> does, on a fake clock: one IsDue per step, a snapshot
/// stall when it says yes, and the commit reported back with a chosen cost.
/// </summary>
internal sealed class PolicyDriver
{
    /// <summary>A Monday, so the weekend factor stays out of the way unless a test wants it.</summary>
    public static readonly DateTimeOffset Monday = new(2024, 1, 1, 8, 0, 0, TimeSpan.Zero);

    private long _lastCheckpointStep = -1;
    private DateTimeOffset _lastCheckpointTime;

    public PolicyDriver(CheckpointPolicy policy, FakeTimeProvider time, TimeSpan step)
    {
        Policy = policy;
        Time = time;
        StepDuration = step;
        _lastCheckpointTime = time.GetUtcNow();
    }

    public CheckpointPolicy Policy { get; }
    public FakeTimeProvider Time { get; }
    public TimeSpan StepDuration { get; set; }
    public TimeSpan Stall { get; set; } = TimeSpan.FromSeconds(1);
    public TimeSpan Persist { get; set; } = TimeSpan.Zero;
    public long Step { get; private set; }

    /// <summary>
    /// When set, the persist runs in the background like in the checkpointer: the commit is reported
    /// <see cref="Persist"/> after the stall, and steps meanwhile take this long.
    /// </summary>
    public TimeSpan? BusyStepDuration { get; set; }

    /// <summary>The cost reported at each commit; by default the stall and the persist.</summary>
    public Func<CheckpointCommitCost>? Cost { get; set; }

    private DateTimeOffset? _commitAt;

    /// <summary>Steps at which a checkpoint was taken, with the time since the previous one (after its stall).</summary>
    public List<(long Step, TimeSpan Since)> Checkpoints { get; } = [];

    public static FakeTimeProvider NewClock() => new(Monday);

    /// <summary>Runs one step; returns true when a checkpoint was taken at its end.</summary>
    public bool RunStep()
    {
        Time.Advance(_commitAt is null ? StepDuration : BusyStepDuration ?? StepDuration);
        Step++;
        if (_commitAt is { } at && Time.GetUtcNow() >= at)
        {
            _commitAt = null;
            Commit();
        }
        var since = Time.GetUtcNow() - _lastCheckpointTime;
        if (!Policy.IsDue(Step, _lastCheckpointStep, since)) return false;
        Time.Advance(Stall);
        Checkpoints.Add((Step, since));
        _lastCheckpointStep = Step;
        _lastCheckpointTime = Time.GetUtcNow();
        if (BusyStepDuration is null) Commit();
        else _commitAt = _lastCheckpointTime + Persist;
        return true;
    }

    private void Commit()
    {
        if (Cost is { } cost) Policy.OnCheckpointCommitted(cost());
        else Policy.OnCheckpointCommitted(Stall, Persist, 1 << 20);
    }

    /// <summary>Runs steps until <paramref name="count"/> more checkpoints were taken (or a step limit is hit).</summary>
    public List<TimeSpan> RunCheckpoints(int count, long maxSteps = 10_000_000)
    {
        var intervals = new List<TimeSpan>();
        for (long i = 0; i < maxSteps && intervals.Count < count; i++)
        {
            if (RunStep()) intervals.Add(Checkpoints[^1].Since);
        }
        Assert.That(intervals, Has.Count.EqualTo(count), "the policy stopped checkpointing");
        return intervals;
    }
}
