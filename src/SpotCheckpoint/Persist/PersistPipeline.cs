using System.Diagnostics;
using Microsoft.Extensions.Logging;
using SpotCheckpoint.Commit;
using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Format;
using SpotCheckpoint.Resume;
using SpotCheckpoint.Retention;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Persist;

/// <summary>
/// Streams staged snapshots to the store in the background and commits them. It owns what a persist reports:
/// statistics, metrics, the one-line failure log, the callbacks and the count of failures in a row. Retention is
/// scheduled after a commit, never inside the persist, so a commit is reported (and its slot freed) at once.
/// </summary>
internal sealed class PersistPipeline
{
    private readonly ICheckpointStore _store;
    private readonly CheckpointerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly StagingSlotPool _pool;
    private readonly RunTimeline _timeline;
    private readonly SpotCheckpointMetrics _metrics;
    private readonly RunHistoryRecorder _history;
    private readonly object _gate = new();
    private CheckpointerStatistics _stats = new();
    private int _consecutiveFailures;
    private readonly ChunkIndex _chunks = new();
    private bool _seeded;
    private int _sinceFull;
    private TimeSpan? _lastDeltaPersist;

    public PersistPipeline(ICheckpointStore store, CheckpointerOptions options, ILogger logger, TimeProvider time, StagingSlotPool pool, RunTimeline timeline,
        RunHistoryRecorder history)
    {
        _store = store;
        _options = options;
        _logger = logger;
        _time = time;
        _pool = pool;
        _timeline = timeline;
        _metrics = options.Metrics ?? SpotCheckpointMetrics.Shared;
        _history = history;
        Retention = new RetentionRunner(store, options.RunId, options.KeepLast, options.IncompleteUploadMaxAge,
            () => timeline.Scope(pool.InFlightSteps()), logger, timeline.Forget) { Chunks = _chunks };
    }

    public RetentionRunner Retention { get; }

    public SpotCheckpointMetrics Metrics => _metrics;

    public CheckpointerStatistics Statistics
    {
        get { lock (_gate) return _stats with { StagingBytes = _pool.StagingBytes }; }
    }

    /// <summary>
    /// How long the last incremental checkpoint that wrote only the delta took to persist (null before one did): an
    /// emergency checkpoint is such a one, whatever the last full checkpoint cost.
    /// </summary>
    public TimeSpan? LastDeltaPersistDuration
    {
        get { lock (_gate) return _lastDeltaPersist; }
    }

    public int ConsecutiveFailures => Volatile.Read(ref _consecutiveFailures);

    public void RecordStall(TimeSpan stall)
    {
        lock (_gate) _stats = _stats with { LastStall = stall };
        _metrics.RecordStall(stall);
    }

    /// <summary>Counts and reports a skipped checkpoint (the callback runs in the background).</summary>
    public void RecordSkipped(long step, string reason)
    {
        lock (_gate) _stats = _stats with { Skipped = _stats.Skipped + 1 };
        _metrics.RecordSkipped("busy");
        Log.Skipped(_logger, step, reason);
        if (_options.OnSkipped is { } callback)
            _ = InvokeAsync(() => callback(new CheckpointSkippedArguments(_options.RunId, step, reason)), "OnSkipped");
    }

    /// <summary>Starts persisting <paramref name="snapshot"/> from <paramref name="slot"/> (Capturing → Persisting).</summary>
    public Task<PersistOutcome> Start(StagingSlot slot, StagedSnapshot snapshot)
    {
        var cancel = new CancellationTokenSource();
        var task = Task.Run(() => RunAsync(snapshot, cancel.Token));
        _pool.StartPersisting(slot, snapshot.Manifest.Step, task, cancel, _time.GetTimestamp());
        return task;
    }

    private async Task<PersistOutcome> RunAsync(StagedSnapshot snapshot, CancellationToken cancellationToken)
    {
        var manifest = snapshot.Manifest;
        var started = Stopwatch.GetTimestamp();
        PackLease? lease = null;
        try
        {
            // The device-to-host copies must have landed before the staged bytes are read (and before the arena is reused).
            TimeSpan? deviceStall = null;
            foreach (var copy in snapshot.Copies)
            {
                await copy.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                // Null until measured (with FenceOptimizerStep, until the next optimizer step placed its fence).
                if (copy.DeviceStall is { } s && (deviceStall is null || s > deviceStall)) deviceStall = s;
            }
            bool full = false;
            WrittenShards shards;
            if (_options.Incremental)
            {
                lease = _chunks.Lease();
                // An emergency checkpoint sends only the delta: a notice window is no time for a full rewrite.
                full = NextIsFull() && snapshot.Reason != CheckpointReason.Emergency;
                var settings = new ChunkWriteSettings(ChunkWriteSettings.DefaultChunkBytes, _options.MaxShardBytes, full);
                shards = await ChunkedCheckpointWriter.WriteAsync(_store, manifest, snapshot.Arena, _chunks, lease, settings, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                shards = await CheckpointWriter.WriteShardsAsync(_store, manifest, snapshot.Arena, cancellationToken).ConfigureAwait(false);
            }
            // The history is stamped at the one place the manifest is finalised, when duration and size are known.
            var committer = new CheckpointCommitter(_store, _timeline.IsAbandoned)
            {
                Finalizing = m => _history.Stamp(m, snapshot.Reason, snapshot.Stall, deviceStall, Stopwatch.GetElapsedTime(started), shards.Bytes),
            };
            long bytes = await committer.CommitAsync(manifest, shards, cancellationToken).ConfigureAwait(false);
            var persist = Stopwatch.GetElapsedTime(started);
            if (_options.Incremental)
            {
                // Known before the lease ends, so this process's collector never sees its packs unreferenced.
                _chunks.Add(manifest);
                lock (_gate)
                {
                    _sinceFull = full ? 0 : _sinceFull + 1;
                    if (!full) _lastDeltaPersist = persist;
                }
            }
            _history.Committed(manifest);
            _timeline.Committed(manifest.Step);
            _pool.MarkCommitted(manifest.Step);
            lock (_gate)
            {
                _stats = _stats with
                {
                    Committed = _stats.Committed + 1, LastPersistDuration = persist, LastBytes = bytes,
                    BytesWritten = _stats.BytesWritten + bytes, BytesReused = _stats.BytesReused + shards.ReusedBytes,
                    LastDeviceStall = deviceStall ?? _stats.LastDeviceStall,
                };
            }
            Volatile.Write(ref _consecutiveFailures, 0);
            Log.Committed(_logger, _options.RunId, manifest.Step, bytes, snapshot.Stall.TotalMilliseconds, persist.TotalMilliseconds, _store.Description);
            _metrics.RecordCommitted(persist, bytes, shards.ReusedBytes);
            if (deviceStall is { } measured) _metrics.RecordDeviceStall(measured);
            _options.Policy.OnCheckpointCommitted(new CheckpointCommitCost(snapshot.Stall, persist, bytes) { DeviceStall = deviceStall ?? TimeSpan.Zero });
            var result = new CheckpointResult(_options.RunId, manifest.Step, bytes, snapshot.Stall, persist) { BytesReused = shards.ReusedBytes };
            if (_options.OnCommitted is { } callback) await InvokeAsync(() => callback(new CheckpointCommittedArguments(result)), "OnCommitted").ConfigureAwait(false);
            Retention.Schedule();
            return new PersistOutcome(result, null);
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
        {
            NoticeLog.Superseded(_logger, _options.RunId, manifest.Step);
            return new PersistOutcome(null, ex);
        }
        catch (Exception ex)
        {
            int failures = Interlocked.Increment(ref _consecutiveFailures);
            lock (_gate) _stats = _stats with { Failed = _stats.Failed + 1, LastError = ex };
            _metrics.RecordFailed(ex);
            Log.PersistFailed(_logger, _options.RunId, manifest.Step, OneLine(ex));
            Log.PersistFailedDetail(_logger, _options.RunId, manifest.Step, ex);
            if (_options.OnPersistFailed is { } callback)
                await InvokeAsync(() => callback(new CheckpointPersistFailedArguments(_options.RunId, manifest.Step, ex, failures)), "OnPersistFailed").ConfigureAwait(false);
            return new PersistOutcome(null, ex);
        }
        finally
        {
            lease?.Dispose();
        }
    }

    /// <summary>
    /// Whether the next incremental checkpoint rewrites every chunk (<see cref="CheckpointerOptions.FullCheckpointEvery"/>);
    /// seeds the chunk index with the manifest resumed from on first use.
    /// </summary>
    private bool NextIsFull()
    {
        lock (_gate)
        {
            if (!_seeded)
            {
                _seeded = true;
                if (_timeline.ResumedManifest is { } resumed) _chunks.Add(resumed);
            }
            return _options.FullCheckpointEvery is int k && k > 0 && _sinceFull + 1 >= k;
        }
    }

    /// <summary>The innermost message, on one line: the cause a user can act on, without a stack trace.</summary>
    internal static string OneLine(Exception ex)
    {
        var message = ex.Message;
        for (var inner = ex.InnerException; inner is not null; inner = inner.InnerException)
            if (!message.Contains(inner.Message, StringComparison.Ordinal)) message += " (" + inner.Message + ")";
        return message.ReplaceLineEndings(" ");
    }

    /// <summary>A callback that throws is logged and never fails the checkpoint.</summary>
    private async Task InvokeAsync(Func<ValueTask> callback, string name)
    {
        try { await callback().ConfigureAwait(false); }
        catch (Exception ex) { Log.CallbackFailed(_logger, name, ex); }
    }
}
