using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Retention;

/// <summary>
/// The garbage collector of incremental checkpoints. Its rule: a pack under <c>run/chunks/</c> is deleted only when
/// no manifest in the store references it, it is older than the incomplete-upload age (a concurrent writer's packs
/// exist before its manifest does, and are younger than that), and this process's <see cref="ChunkIndex"/> does not
/// hold it (a persist in flight). Crash safety comes from the order: manifests are deleted before this runs and are
/// listed (and read) before the packs are, so a kill at any point leaves at worst an unreferenced pack for the next
/// pass, never a manifest without its chunks. A manifest that cannot be read stops the pass (its references are unknown).
/// </summary>
internal static class PackCollector
{
    /// <summary>One pass; returns the number of packs deleted.</summary>
    public static async Task<int> CollectAsync(ICheckpointStore store, string runId, TimeSpan minAge, ChunkIndex? index, CancellationToken cancellationToken)
    {
        var prefix = StoreKeys.ChunksPrefix(runId);
        // The common case of a run without incremental checkpoints costs one listing.
        var packs = new List<StoredObject>();
        await foreach (var obj in store.ListAsync(prefix, cancellationToken).ConfigureAwait(false)) packs.Add(obj);
        if (packs.Count == 0) return 0;

        var referenced = await ReferencedAsync(store, runId, cancellationToken).ConfigureAwait(false);
        if (referenced is null) return 0;
        // Listed again after the manifests: a pack that appears in between is younger than any age and left alone.
        packs.Clear();
        await foreach (var obj in store.ListAsync(prefix, cancellationToken).ConfigureAwait(false)) packs.Add(obj);

        var now = DateTimeOffset.UtcNow;
        int removed = 0;
        foreach (var pack in packs)
        {
            var file = pack.Key[prefix.Length..];
            if (!StoreKeys.TryParsePackFileName(file, out _) || referenced.Contains(file)) continue;
            // An unknown age is treated as young: it might be a writer's pack whose manifest is on its way.
            if (pack.LastModified is not { } modified || now - modified < minAge) continue;
            if (index is not null && !index.MayDelete(file)) continue;
            await store.DeleteAsync(pack.Key, cancellationToken).ConfigureAwait(false);
            if (++removed == 1) CrashPoints.Hit(CrashPoints.MidGc);
        }
        return removed;
    }

    /// <summary>The pack files every committed manifest of the run references; null when one could not be read.</summary>
    internal static async Task<HashSet<string>?> ReferencedAsync(ICheckpointStore store, string runId, CancellationToken cancellationToken)
    {
        var referenced = new HashSet<string>(StringComparer.Ordinal);
        foreach (var listing in await CheckpointCatalog.ListAsync(store, runId, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                var reader = await CheckpointReader.OpenAsync(store, runId, listing.Step, cancellationToken).ConfigureAwait(false);
                foreach (var p in reader.Manifest.Packs ?? new List<PackEntry>()) referenced.Add(p.File);
            }
            catch (CheckpointCorruptException)
            {
                // Deleted since it was listed (retention elsewhere) references nothing any more; anything else is unknown.
                if (await store.GetLengthAsync(listing.ManifestKey, cancellationToken).ConfigureAwait(false) is not null) return null;
            }
        }
        return referenced;
    }
}
