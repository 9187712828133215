namespace SpotCheckpoint.Storage;

/// <summary>A committed checkpoint as listed in a store (its manifest exists; contents not yet verified).</summary>
/// <param name="RunId">The run.</param>
/// <param name="Step">The step it was taken at.</param>
/// <param name="ManifestKey">The key of its manifest.</param>
/// <param name="CommittedUtc">When the manifest was written, if the store knows.</param>
public readonly record struct CheckpointListing(string RunId, long Step, string ManifestKey, DateTimeOffset? CommittedUtc);

/// <summary>Finds a run's checkpoints in a store, deletes one, and applies retention.</summary>
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
    /// <paramref name="incompleteMaxAge"/> (which must be positive). Steps in <paramref name="inFlight"/> are never
    /// touched, and no incomplete write is cleaned while any is given. Returns the number of objects removed.
    /// </summary>
    public static Task<int> ApplyRetentionAsync(ICheckpointStore store, string runId, int keepLast, TimeSpan incompleteMaxAge,
        IReadOnlyCollection<long>? inFlight = null, CancellationToken cancellationToken = default) =>
        // The rules live with the retention runner (it reads manifests); this entry point is kept for tools and scripts.
        Retention.RetentionRunner.ApplyAsync(store, runId, keepLast, incompleteMaxAge, Retention.RetentionScope.Of(inFlight), null, cancellationToken);
}
