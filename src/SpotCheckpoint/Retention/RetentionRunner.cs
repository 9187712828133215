using System.Globalization;
using Microsoft.Extensions.Logging;
using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Retention;

/// <summary>What one retention pass must respect.</summary>
/// <param name="Protected">Steps never deleted: the step resumed from (until the run commits a newer one) and the newest committed step.</param>
/// <param name="InFlight">Steps being written: never touched, and no clean-up of incomplete uploads runs while there are any.</param>
/// <param name="Abandoned">Checkpoints of an abandoned timeline: they never count as "newest", and are deleted once the run has committed a step at or past them.</param>
internal sealed record RetentionScope(IReadOnlySet<long> Protected, IReadOnlySet<long> InFlight, IReadOnlySet<long> Abandoned)
{
    public static RetentionScope Of(IReadOnlyCollection<long>? inFlight) =>
        new(new HashSet<long>(), (inFlight ?? Array.Empty<long>()).ToHashSet(), new HashSet<long>());
}

/// <summary>
/// Applies retention after commits, one pass at a time, outside the staging slots (a commit is reported before
/// retention runs) and cancellable on dispose. Its rule: the newest <c>keepLast</c> checkpoints of the run's own
/// timeline are kept, plus every protected step; steps in flight are never touched.
/// </summary>
internal sealed class RetentionRunner(ICheckpointStore store, string runId, int keepLast, TimeSpan incompleteMaxAge,
    Func<RetentionScope> scope, ILogger logger, Action<long>? deletedAbandoned = null)
{
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _tail = Task.CompletedTask;
    private bool _queued;

    /// <summary>The chunk index of the writing process (incremental checkpoints): deleted steps leave it, and the collector respects its leases.</summary>
    public ChunkIndex? Chunks { get; init; }

    /// <summary>Completes when every scheduled pass has finished.</summary>
    public Task Idle
    {
        get { lock (_gate) return _tail; }
    }

    /// <summary>Queues a pass after the current one (several commits in a row share one queued pass).</summary>
    public void Schedule()
    {
        lock (_gate)
        {
            if (_queued) return;
            _queued = true;
            _tail = _tail.ContinueWith(_ => RunOnceAsync(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
        }
    }

    /// <summary>Stops the pass under way (a partial pass is safe: manifests go first) and skips queued ones.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        _stop.Cancel();
        try { await Idle.WaitAsync(grace).ConfigureAwait(false); }
        catch (TimeoutException) { /* a store call that ignores cancellation; nothing depends on it */ }
    }

    private async Task RunOnceAsync()
    {
        lock (_gate) _queued = false;
        if (_stop.IsCancellationRequested) return;
        try
        {
            await ApplyAsync(store, runId, keepLast, incompleteMaxAge, scope(), deletedAbandoned, _stop.Token, Chunks).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Log.RetentionFailed(logger, runId, ex.Message);
        }
    }

    /// <summary>One retention pass; returns the number of objects removed. See <see cref="CheckpointCatalog.ApplyRetentionAsync"/>.</summary>
    public static async Task<int> ApplyAsync(ICheckpointStore store, string runId, int keepLast, TimeSpan incompleteMaxAge, RetentionScope scope,
        Action<long>? deletedAbandoned, CancellationToken cancellationToken, ChunkIndex? chunks = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        StoreKeys.ValidateRunId(runId);
        ArgumentOutOfRangeException.ThrowIfLessThan(keepLast, 1);
        if (incompleteMaxAge <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(incompleteMaxAge), incompleteMaxAge, "The incomplete-upload age must be positive: a zero age would abort uploads that are still running.");
        var byStep = await ListStepsAsync(store, runId, cancellationToken).ConfigureAwait(false);
        var committed = byStep.Where(kv => kv.Value.Any(IsManifest)).Select(kv => kv.Key).ToHashSet();
        var timeline = committed.Where(s => !scope.Abandoned.Contains(s)).OrderByDescending(s => s).ToList();
        var keep = timeline.Take(keepLast).Concat(scope.Protected).ToHashSet();
        long newest = timeline.Count > 0 ? timeline[0] : -1;
        int removed = 0;
        bool first = true;

        async Task DeleteAsync(string key)
        {
            await store.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
            removed++;
            if (first) { first = false; CrashPoints.Hit(CrashPoints.MidRetention); }
        }

        foreach (var (step, keys) in byStep)
        {
            if (scope.InFlight.Contains(step)) continue;
            if (scope.Abandoned.Contains(step))
            {
                // Kept until the run's own timeline reaches it; then it is superseded.
                if (step > newest) continue;
                foreach (var key in keys.OrderBy(k => IsManifest(k) ? 0 : 1)) await DeleteAsync(key).ConfigureAwait(false);
                chunks?.Forget(step);
                deletedAbandoned?.Invoke(step);
                continue;
            }
            if (keep.Contains(step))
            {
                if (!committed.Contains(step)) continue;
                // Remove files a committed step's manifest does not name (e.g. a losing writer's shards).
                CheckpointReader reader;
                try { reader = await CheckpointReader.OpenAsync(store, runId, step, cancellationToken).ConfigureAwait(false); }
                catch (CheckpointCorruptException) { continue; }
                var named = reader.Manifest.Shards.Select((_, i) => reader.ShardKey(i)).ToHashSet(StringComparer.Ordinal);
                named.Add(StoreKeys.ManifestKey(runId, step));
                foreach (var key in keys.Where(k => !named.Contains(k))) await DeleteAsync(key).ConfigureAwait(false);
                continue;
            }
            if (!committed.Contains(step) && step > newest) continue; // may still be being written by another process
            foreach (var key in keys.OrderBy(k => IsManifest(k) ? 0 : 1)) await DeleteAsync(key).ConfigureAwait(false);
            chunks?.Forget(step);
        }
        // Chunks go after the manifests that referenced them (a manifest is never left without its chunks).
        removed += await PackCollector.CollectAsync(store, runId, incompleteMaxAge, chunks, cancellationToken).ConfigureAwait(false);
        // Incomplete uploads carry no step the store can report, so none is cleaned while a step of ours is in flight.
        if (scope.InFlight.Count == 0)
            removed += await store.CleanupIncompleteAsync(runId + "/", incompleteMaxAge, cancellationToken).ConfigureAwait(false);
        return removed;
    }

    private static bool IsManifest(string key) => key.EndsWith("/" + StoreKeys.ManifestFileName, StringComparison.Ordinal);

    private static async Task<SortedDictionary<long, List<string>>> ListStepsAsync(ICheckpointStore store, string runId, CancellationToken cancellationToken)
    {
        var byStep = new SortedDictionary<long, List<string>>();
        var prefix = runId + "/step-";
        await foreach (var obj in store.ListAsync(runId + "/", cancellationToken).ConfigureAwait(false))
        {
            if (!obj.Key.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var rest = obj.Key.AsSpan(prefix.Length);
            int slash = rest.IndexOf('/');
            if (slash < 8 || !long.TryParse(rest[..slash], NumberStyles.None, CultureInfo.InvariantCulture, out var step)) continue;
            if (!obj.Key.StartsWith(StoreKeys.StepPrefix(runId, step), StringComparison.Ordinal)) continue; // not a canonical step folder
            if (!byStep.TryGetValue(step, out var list)) byStep[step] = list = new List<string>();
            list.Add(obj.Key);
        }
        return byStep;
    }
}
