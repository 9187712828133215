using System.Diagnostics;
using System.Security.Cryptography;
using SpotCheckpoint.Format;
using SpotCheckpoint.Notices;

namespace SpotCheckpoint.Diagnostics;

/// <summary>
/// Fills <see cref="CheckpointManifest.History"/>: knows this process (its start, the step it resumed from, the
/// machine and its prices) and the lineage of committed checkpoints, and stamps each manifest just before it is
/// written, when its persist duration and size are known. Thread-safe (persists may overlap).
/// </summary>
internal sealed class RunHistoryRecorder
{
    private readonly object _gate = new();
    private readonly NoticeHub _notices;
    private readonly TimeProvider _time;
    private readonly AttemptRecord _attempt;
    private List<AttemptRecord> _earlierAttempts = new();
    private readonly List<CheckpointRecord> _lineage = new();
    private long _omitted;
    private DateTimeOffset _lastStamp = DateTimeOffset.MinValue;

    public RunHistoryRecorder(CostOptions cost, NoticeHub notices, TimeProvider time, DateTimeOffset? processStart = null)
    {
        _notices = notices;
        _time = time;
        var now = time.GetUtcNow();
        _attempt = new AttemptRecord
        {
            Id = Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant(),
            ProcessStartUtc = processStart ?? ProcessStart() ?? now,
            StartedUtc = now,
            InstanceType = cost.InstanceType,
            Region = cost.Region,
            Zone = cost.Zone,
            Prices = cost.OnDemandPerHour is null && cost.SpotPerHour is null ? null
                : new PriceRecord { OnDemandPerHour = cost.OnDemandPerHour, SpotPerHour = cost.SpotPerHour, Currency = cost.Currency },
        };
    }

    /// <summary>This process's attempt.</summary>
    public AttemptRecord Attempt => _attempt;

    /// <summary>Continues the lineage of the checkpoint this process resumed from.</summary>
    public void Resumed(CheckpointManifest manifest)
    {
        lock (_gate)
        {
            _attempt.ResumedFromStep = manifest.Step;
            _earlierAttempts = manifest.History?.Attempts.Where(a => a.Id != _attempt.Id).ToList() ?? new();
            _lineage.Clear();
            if (manifest.History is { } h) _lineage.AddRange(h.Checkpoints.Where(c => c is not null && c.Step <= manifest.Step));
            _omitted = manifest.History?.OmittedCheckpoints ?? 0;
        }
    }

    /// <summary>Sets <paramref name="manifest"/>'s history: the lineage so far plus this checkpoint.</summary>
    public void Stamp(CheckpointManifest manifest, CheckpointReason reason, TimeSpan stall, TimeSpan? deviceStall, TimeSpan persistDuration, long bytes)
    {
        // A termination that is pending explains any checkpoint written now; a risk signal seen since the last one
        // explains a periodic checkpoint (the policy tightened its schedule).
        var notice = _notices.TerminationPending ? _notices.Termination : null;
        lock (_gate)
        {
            if (notice is null && reason == CheckpointReason.Periodic && _notices.LatestRisk is { } risk && risk.SeenAt > _lastStamp)
            {
                reason = CheckpointReason.Risk;
                notice = risk;
            }
            var now = _time.GetUtcNow();
            _lastStamp = now;
            var record = new CheckpointRecord
            {
                Step = manifest.Step,
                Attempt = _attempt.Id,
                Reason = reason.ToString().ToLowerInvariant(),
                CommittedUtc = now,
                StallSeconds = stall.TotalSeconds,
                DeviceStallSeconds = deviceStall?.TotalSeconds,
                PersistSeconds = persistDuration.TotalSeconds,
                Bytes = bytes,
                Notice = notice is null ? null : new NoticeRecord
                {
                    Provider = notice.Provider,
                    Kind = notice.Kind.ToString().ToLowerInvariant(),
                    Action = notice.Action,
                    Id = notice.EventId,
                    DeadlineUtc = notice.Deadline,
                    SeenUtc = notice.SeenAt,
                },
            };
            var checkpoints = _lineage.Where(c => c.Step < manifest.Step).Append(record).ToList();
            long omitted = _omitted;
            if (checkpoints.Count > CheckpointHistory.MaxCheckpoints)
            {
                int drop = checkpoints.Count - CheckpointHistory.MaxCheckpoints;
                checkpoints.RemoveRange(0, drop);
                omitted += drop;
            }
            manifest.History = new CheckpointHistory
            {
                Attempts = _earlierAttempts.Append(_attempt).ToList(),
                Checkpoints = checkpoints,
                OmittedCheckpoints = omitted,
            };
        }
    }

    /// <summary>Adds a committed checkpoint to the lineage later manifests carry.</summary>
    public void Committed(CheckpointManifest manifest)
    {
        if (manifest.History?.Checkpoints.LastOrDefault() is not { } record) return;
        lock (_gate)
        {
            _lineage.RemoveAll(c => c.Step == record.Step);
            _lineage.Add(record);
            _lineage.Sort((a, b) => a.Step.CompareTo(b.Step));
            if (_lineage.Count > CheckpointHistory.MaxCheckpoints)
            {
                int drop = _lineage.Count - CheckpointHistory.MaxCheckpoints;
                _lineage.RemoveRange(0, drop);
                _omitted += drop;
            }
        }
    }

    private static DateTimeOffset? ProcessStart()
    {
        try
        {
            using var process = Process.GetCurrentProcess();
            return new DateTimeOffset(process.StartTime.ToUniversalTime(), TimeSpan.Zero);
        }
        catch (Exception ex) when (ex is InvalidOperationException or NotSupportedException or System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
