using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Format;

namespace SpotCheckpoint.Storage;

/// <summary>A committed checkpoint as listed in a store (its manifest exists; contents not yet verified).</summary>
/// <param name="RunId">The run.</param>
/// <param name="Step">The step it was taken at.</param>
/// <param name="ManifestKey">The key of its manifest.</param>
/// <param name="CommittedUtc">When the manifest was written, if the store knows.</param>
public readonly record struct CheckpointListing(string RunId, long Step, string ManifestKey, DateTimeOffset? CommittedUtc);

/// <summary>Finds a run's checkpoints in a store and applies retention.</summary>
public static class CheckpointCatalog
{
    /// <summary>The committed checkpoints of <paramref name="runId"/>, newest step first.</summary>
    public static async Task<IReadOnlyList<CheckpointListing>> ListAsync(ICheckpointStore store, string runId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        StoreKeys.ValidateRunId(runId);
        var result = new List<CheckpointListing>();
        await foreach (var obj in store.ListAsync(runId + "/", cancellationToken).ConfigureAwait(false))
        {
            if (StoreKeys.TryParseManifestKey(runId, obj.Key, out var step))
                result.Add(new CheckpointListing(runId, step, obj.Key, obj.LastModified));
        }
        result.Sort((a, b) => b.Step.CompareTo(a.Step));
        return result;
    }

    /// <summary>
    /// Deletes every object of one checkpoint, the manifest first so that it is never visible half-deleted.
    /// Returns the number of objects removed.
    /// </summary>
    public static async Task<int> DeleteCheckpointAsync(ICheckpointStore store, string runId, long step, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        StoreKeys.ValidateRunId(runId);
        var prefix = StoreKeys.StepPrefix(runId, step);
        var manifest = prefix + StoreKeys.ManifestFileName;
        int removed = 0;
        if (await store.GetLengthAsync(manifest, cancellationToken).ConfigureAwait(false) is not null)
        {
            await store.DeleteAsync(manifest, cancellationToken).ConfigureAwait(false);
            removed++;
        }
        var keys = new List<string>();
        await foreach (var obj in store.ListAsync(prefix, cancellationToken).ConfigureAwait(false)) keys.Add(obj.Key);
        foreach (var key in keys)
        {
            await store.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
            removed++;
        }
        return removed;
    }

    /// <summary>
    /// Keeps the newest <paramref name="keepLast"/> committed checkpoints and deletes older ones (manifest first, so
    /// a reader never finds a manifest whose shards are gone), objects of uncommitted steps older than the newest
    /// committed one, files in a committed step that its manifest does not name, and incomplete writes older than
    /// <paramref name="incompleteMaxAge"/>. Steps in <paramref name="inFlight"/> are never touched.
    /// Returns the number of objects removed.
    /// </summary>
    public static async Task<int> ApplyRetentionAsync(ICheckpointStore store, string runId, int keepLast, TimeSpan incompleteMaxAge,
        IReadOnlyCollection<long>? inFlight = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        StoreKeys.ValidateRunId(runId);
        ArgumentOutOfRangeException.ThrowIfLessThan(keepLast, 1);
        var byStep = new SortedDictionary<long, List<string>>();
        var prefix = runId + "/step-";
        await foreach (var obj in store.ListAsync(runId + "/", cancellationToken).ConfigureAwait(false))
        {
            if (!obj.Key.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var rest = obj.Key.AsSpan(prefix.Length);
            int slash = rest.IndexOf('/');
            if (slash < 8 || !long.TryParse(rest[..slash], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var step)) continue;
            if (!obj.Key.StartsWith(StoreKeys.StepPrefix(runId, step), StringComparison.Ordinal)) continue; // not a canonical step folder
            if (!byStep.TryGetValue(step, out var list)) byStep[step] = list = new List<string>();
            list.Add(obj.Key);
        }

        var committed = byStep.Where(kv => kv.Value.Any(k => k.EndsWith("/" + StoreKeys.ManifestFileName, StringComparison.Ordinal)))
            .Select(kv => kv.Key).OrderByDescending(s => s).ToList();
        var keep = committed.Take(keepLast).ToHashSet();
        long newestCommitted = committed.Count > 0 ? committed[0] : -1;
        int removed = 0;

        foreach (var (step, keys) in byStep)
        {
            if (inFlight is not null && inFlight.Contains(step)) continue;
            bool isCommitted = committed.Contains(step);
            if (keep.Contains(step))
            {
                // Remove files a committed step's manifest does not name (e.g. a losing writer's shards).
                CheckpointReader reader;
                try { reader = await CheckpointReader.OpenAsync(store, runId, step, cancellationToken).ConfigureAwait(false); }
                catch (CheckpointCorruptException) { continue; }
                var named = reader.Manifest.Shards.Select((_, i) => reader.ShardKey(i)).ToHashSet(StringComparer.Ordinal);
                named.Add(StoreKeys.ManifestKey(runId, step));
                foreach (var key in keys.Where(k => !named.Contains(k)))
                {
                    await store.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
                    removed++;
                }
                continue;
            }
            if (!isCommitted && step > newestCommitted) continue; // may still be being written by another process
            var ordered = keys.OrderBy(k => k.EndsWith("/" + StoreKeys.ManifestFileName, StringComparison.Ordinal) ? 0 : 1);
            foreach (var key in ordered)
            {
                await store.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
                removed++;
                CrashPoints.Hit(CrashPoints.MidRetention);
            }
        }
        removed += await store.CleanupIncompleteAsync(runId + "/", incompleteMaxAge, cancellationToken).ConfigureAwait(false);
        return removed;
    }
}
