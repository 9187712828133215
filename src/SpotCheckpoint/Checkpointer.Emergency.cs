using System.Globalization;
using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Format;
using SpotCheckpoint.Notices;

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

    private void MarkStarted()
    {
        if (_started) return;
        _started = true;
        _notices.Start();
    }

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

        Task<CheckpointOutcome>? persist = null;
        StagingSlot? newestInFlight = null;
        bool anyFree = false;
        lock (_gate)
        {
            foreach (var s in _slots)
            {
                bool running = s.Persist is { IsCompleted: false };
                if (s.Step == step && (running || s.Persist is { Result.Result: not null })) persist = s.Persist;
                if (running && (newestInFlight is null || s.Step > newestInFlight.Step)) newestInFlight = s;
                if (!running) anyFree = true;
            }
            if (persist is null && _lastCommittedStep == step)
                persist = Task.FromResult(new CheckpointOutcome(new CheckpointResult(RunId, step, 0, TimeSpan.Zero, TimeSpan.Zero), null));
        }

        string plan;
        bool snapshotTaken = false;
        if (persist is not null)
        {
            plan = $"step {step} is already committed or being written; waiting for it";
        }
        else if (newestInFlight is not null && estimate > left)
        {
            // A new snapshot would not commit in time; the one being written is the most recent complete state that can.
            persist = newestInFlight.Persist!;
            plan = $"keeping the checkpoint of step {newestInFlight.Step} that is being written";
            NoticeLog.EmergencyMayNotFit(_logger, estimate.Value.TotalSeconds, left.TotalSeconds,
                $"committing the snapshot of step {newestInFlight.Step} instead of step {step}");
        }
        else
        {
            if (newestInFlight is null)
            {
                plan = $"writing step {step}";
            }
            else if (estimate is null || EstimateRemaining(newestInFlight) + estimate <= left)
            {
                // Both fit (or nothing is known yet): let the older one commit first, it is the quicker safety net.
                plan = $"letting the checkpoint of step {newestInFlight.Step} finish, then writing step {step}";
                if (!anyFree && AcquireSlot(Max(TimeSpan.Zero, left - (estimate ?? TimeSpan.Zero)), CancellationToken.None) is null)
                {
                    CancelInFlightPersists();
                    plan = $"step {newestInFlight.Step} did not finish in time; superseded by step {step}";
                }
            }
            else
            {
                CancelInFlightPersists();
                plan = $"superseding the checkpoint of step {newestInFlight.Step} (it would not finish in time) with step {step}";
            }
            if (estimate > left)
            {
                NoticeLog.EmergencyMayNotFit(_logger, estimate.Value.TotalSeconds, left.TotalSeconds,
                    $"writing it anyway; if it does not commit, a resumed run starts from step {Math.Max(0, _lastCommittedStep)}");
            }
            persist = Snapshot(AcquireSlot(Timeout.InfiniteTimeSpan, CancellationToken.None)!, step, CheckpointReason.Emergency);
            snapshotTaken = true;
        }
        NoticeLog.EmergencyPlanned(_logger, step, left.TotalSeconds,
            estimate is { } e ? $"about {e.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s" : "an unknown time (none measured yet)", plan);
        Volatile.Write(ref _emergency, Task.Run(() => CompleteEmergencyAsync(notice, deadline, persist, plan)));
        _stopRequested = true;
        return snapshotTaken;
    }

    private async Task<EmergencyCheckpointResult> CompleteEmergencyAsync(TerminationNotice notice, DateTimeOffset deadline, Task<CheckpointOutcome> persist, string plan)
    {
        var outcome = await persist.ConfigureAwait(false);
        var now = _time.GetUtcNow();
        if (outcome.Result is null)
        {
            long last;
            lock (_gate) last = _lastCommittedStep;
            NoticeLog.EmergencyFailed(_logger, RunId, last, outcome.Error);
            return new EmergencyCheckpointResult(notice, deadline, plan, null, null, null, outcome.Error, false);
        }
        var latency = Max(TimeSpan.Zero, now - notice.SeenAt);
        _metrics.RecordNoticeToCommit(notice.Provider, latency);
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

    /// <summary>Stall plus persist of the last committed checkpoint, padded; null before the first commit.</summary>
    private TimeSpan? EstimateCheckpointDuration()
    {
        lock (_gate) return _stats.Committed == 0 ? null : (_stats.LastStall + _stats.LastPersistDuration) * EstimatePadding;
    }

    /// <summary>What is left of an in-flight persist, judged by the last one's duration; null before the first commit.</summary>
    private TimeSpan? EstimateRemaining(StagingSlot slot)
    {
        lock (_gate)
        {
            if (_stats.Committed == 0) return null;
            return Max(TimeSpan.Zero, _stats.LastPersistDuration * EstimatePadding - _time.GetElapsedTime(slot.PersistStarted));
        }
    }

    private void CancelInFlightPersists()
    {
        CancellationTokenSource[] running;
        lock (_gate) running = _slots.Where(s => s.Persist is { IsCompleted: false } && s.Cancel is not null).Select(s => s.Cancel!).ToArray();
        foreach (var cancel in running) cancel.Cancel();
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
