using System.Globalization;
using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Format;
using SpotCheckpoint.Notices;
using SpotCheckpoint.Staging;

namespace SpotCheckpoint;

// Termination notices and the emergency checkpoint.
public sealed partial class Checkpointer
{
    /// <summary>Estimates are padded by this factor: a checkpoint under pressure is rarely faster than the last one.</summary>
    private const double EstimatePadding = 1.25;

    private readonly NoticeHub _notices;
    private Task<EmergencyCheckpointResult>? _emergency;
    private volatile bool _stopRequested;

    /// <summary>
    /// The hub that fuses the notice sources of <see cref="CheckpointerOptions.Notices"/> into one deadline. Raise
    /// notices of your own with <see cref="NoticeHub.RequestTermination"/>. Sources start with the first
    /// <see cref="ResumeAsync"/>, <see cref="Step"/> or <see cref="CheckpointAsync"/> call.
    /// </summary>
    public NoticeHub Notices => _notices;

    /// <summary>
    /// True once a termination notice was handled at a step boundary: the emergency checkpoint is under way and
    /// the training loop should stop, await <see cref="EmergencyCheckpoint"/> and exit.
    /// </summary>
    public bool StopRequested => _stopRequested;

    /// <summary>The emergency checkpoint taken after a termination notice, or null when none was taken.</summary>
    public Task<EmergencyCheckpointResult>? EmergencyCheckpoint => Volatile.Read(ref _emergency);

    /// <summary>
    /// Called from <see cref="Step"/> once a termination notice is pending. The first time, plans and starts the
    /// emergency checkpoint on the training thread (the state is consistent only here), then asks the loop to stop.
    /// Returns true when a new snapshot was taken.
    /// </summary>
    private bool OnTerminationPending(long step)
    {
        if (_emergency is not null) return false;
        var notice = _notices.Termination!;
        var deadline = _notices.Deadline!.Value;
        var left = deadline - _time.GetUtcNow();
        var estimate = EstimateCheckpointDuration();

        var persist = _pool.FindStep(step);
        var (newestInFlight, anyFree) = _pool.InFlightSummary();
        if (persist is null && _timeline.NewestCommitted == step)
            persist = Task.FromResult(new PersistOutcome(new CheckpointResult(RunId, step, 0, TimeSpan.Zero, TimeSpan.Zero), null));

        string plan;
        bool snapshotTaken = false, superseding = false;
        if (persist is not null)
        {
            plan = $"step {step} is already committed or being written; waiting for it";
        }
        else if (newestInFlight is not null && (estimate > left || (estimate is null && !anyFree)))
        {
            // A new snapshot would not commit in time (or, with nothing measured and no free buffer, waiting for one
            // could use up the window): the one being written is the most recent complete state that can.
            persist = newestInFlight.Persist!;
            plan = $"keeping the checkpoint of step {newestInFlight.Step} that is being written";
            if (estimate is { } needed)
                NoticeLog.EmergencyMayNotFit(_logger, needed.TotalSeconds, left.TotalSeconds, $"committing the snapshot of step {newestInFlight.Step} instead of step {step}");
            else
                plan += " (nothing measured yet and every staging buffer is busy: waiting for a free one could use up the window)";
        }
        else
        {
            if (newestInFlight is null)
            {
                plan = $"writing step {step}";
            }
            else if (estimate is null || EstimateRemaining(newestInFlight) + estimate <= left)
            {
                // Both fit (or nothing is known yet and a buffer is free): let the older one commit first, it is the quicker safety net.
                plan = $"letting the checkpoint of step {newestInFlight.Step} finish, then writing step {step}";
            }
            else
            {
                _pool.CancelInFlight();
                superseding = true;
                plan = $"superseding the checkpoint of step {newestInFlight.Step} (it would not finish in time) with step {step}";
            }
            if (estimate > left)
            {
                NoticeLog.EmergencyMayNotFit(_logger, estimate.Value.TotalSeconds, left.TotalSeconds,
                    $"writing it anyway; if it does not commit, a resumed run starts from step {Math.Max(0, _timeline.NewestCommitted)}");
            }
            var slot = _pool.Reserve(superseding ? Timeout.InfiniteTimeSpan : Max(TimeSpan.Zero, left - (estimate ?? TimeSpan.Zero)), CancellationToken.None);
            if (slot is null)
            {
                // The older checkpoint did not free its buffers in time: supersede it.
                _pool.CancelInFlight();
                plan = $"step {newestInFlight!.Step} did not finish in time; superseded by step {step}";
                slot = _pool.Reserve(Timeout.InfiniteTimeSpan, CancellationToken.None)!;
            }
            persist = Snapshot(slot, step, CheckpointReason.Emergency);
            snapshotTaken = true;
        }
        NoticeLog.EmergencyPlanned(_logger, step, left.TotalSeconds,
            estimate is { } e ? $"about {e.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s" : "an unknown time (none measured yet)", plan);
        Volatile.Write(ref _emergency, Task.Run(() => CompleteEmergencyAsync(notice, deadline, persist, plan)));
        _stopRequested = true;
        return snapshotTaken;
    }

    private async Task<EmergencyCheckpointResult> CompleteEmergencyAsync(TerminationNotice notice, DateTimeOffset deadline, Task<PersistOutcome> persist, string plan)
    {
        var outcome = await persist.ConfigureAwait(false);
        var now = _time.GetUtcNow();
        if (outcome.Result is null)
        {
            NoticeLog.EmergencyFailed(_logger, RunId, _timeline.NewestCommitted, outcome.Error);
            return new EmergencyCheckpointResult(notice, deadline, plan, null, null, null, outcome.Error, false);
        }
        var latency = Max(TimeSpan.Zero, now - notice.SeenAt);
        _persist.Metrics.RecordNoticeToCommit(notice.Provider, latency);
        if (now <= deadline) NoticeLog.EmergencyCommitted(_logger, RunId, outcome.Result.Step, latency.TotalMilliseconds, notice.Provider, (deadline - now).TotalSeconds);
        else NoticeLog.EmergencyLate(_logger, RunId, latency.TotalMilliseconds, notice.Provider, (now - deadline).TotalSeconds);

        // Only now that the state is safe may the provider be told to go ahead (Azure: approve the event).
        bool acknowledged = false;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            acknowledged = await _notices.AcknowledgeAsync(timeout.Token).ConfigureAwait(false);
            if (acknowledged) NoticeLog.Acknowledged(_logger);
        }
        catch (OperationCanceledException)
        {
        }
        return new EmergencyCheckpointResult(notice, deadline, plan, outcome.Result, now, latency, null, acknowledged);
    }

    /// <summary>
    /// Stall plus persist of the last committed checkpoint, padded; null before the first commit. With incremental
    /// checkpoints the persist is the last one that wrote only the delta, as the emergency checkpoint will.
    /// </summary>
    private TimeSpan? EstimateCheckpointDuration()
    {
        var stats = _persist.Statistics;
        var persist = _persist.LastDeltaPersistDuration ?? stats.LastPersistDuration;
        return stats.Committed == 0 ? null : (stats.LastStall + persist) * EstimatePadding;
    }

    /// <summary>What is left of an in-flight persist, judged by the last one's duration; null before the first commit.</summary>
    private TimeSpan? EstimateRemaining(StagingSlot slot)
    {
        var stats = _persist.Statistics;
        if (stats.Committed == 0) return null;
        long started;
        lock (_pool.Gate) started = slot.PersistStarted;
        return Max(TimeSpan.Zero, stats.LastPersistDuration * EstimatePadding - _time.GetElapsedTime(started));
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}

/// <summary>The outcome of the emergency checkpoint (<see cref="Checkpointer.EmergencyCheckpoint"/>).</summary>
/// <param name="Notice">The termination notice it answered (the one with the earliest deadline).</param>
/// <param name="Deadline">The deadline worked to: the notice's deadline minus the safety margin.</param>
/// <param name="Plan">What was decided, in words (also logged).</param>
/// <param name="Checkpoint">The committed checkpoint; null when it failed.</param>
/// <param name="CommittedAt">When the commit was seen.</param>
/// <param name="NoticeToCommit">From the notice being seen to the commit.</param>
/// <param name="Error">Why it failed, when it did.</param>
/// <param name="Acknowledged">True when a source told its provider to go ahead (Azure event approval).</param>
public sealed record EmergencyCheckpointResult(
    TerminationNotice Notice,
    DateTimeOffset Deadline,
    string Plan,
    CheckpointResult? Checkpoint,
    DateTimeOffset? CommittedAt,
    TimeSpan? NoticeToCommit,
    Exception? Error,
    bool Acknowledged)
{
    /// <summary>True when a checkpoint was committed.</summary>
    public bool Committed => Checkpoint is not null;

    /// <summary>True when it committed before <see cref="Deadline"/>.</summary>
    public bool MetDeadline => CommittedAt is { } at && at <= Deadline;
}
