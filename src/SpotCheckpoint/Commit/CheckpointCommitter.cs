using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Format;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Commit;

/// <summary>
/// Writes the manifest, the commit point of a checkpoint. Its rule: once the manifest write has started, the
/// checkpoint is either proven committed or proven absent (read back) before anything is cleaned up. A create that
/// throws or is cancelled after the request went out may still have landed; its shards are deleted only when a
/// read-back shows no manifest of ours, and kept (invisible or committed, never half) when the store cannot say.
/// </summary>
internal sealed class CheckpointCommitter(ICheckpointStore store, Func<long, bool>? isAbandoned = null)
{
    /// <summary>Read-back attempts when the outcome of a manifest write is unknown, and the first pause between them.</summary>
    internal const int ProofAttempts = 4;
    internal static readonly TimeSpan ProofBackoff = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// The one place a manifest is finalised before it is encoded and written (later hooks, such as a history
    /// record, fill it here).
    /// </summary>
    internal Action<CheckpointManifest>? Finalizing { get; init; }

    /// <summary>Writes the shards of <paramref name="arena"/> and commits them (tests and tools use it as one call).</summary>
    public static async Task<long> PersistAsync(ICheckpointStore store, CheckpointManifest manifest, StagingArena arena, CancellationToken cancellationToken)
    {
        var shards = await CheckpointWriter.WriteShardsAsync(store, manifest, arena, cancellationToken).ConfigureAwait(false);
        return await new CheckpointCommitter(store).CommitAsync(manifest, shards, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Commits <paramref name="manifest"/> over <paramref name="shards"/>; returns the bytes written in all.</summary>
    public async Task<long> CommitAsync(CheckpointManifest manifest, WrittenShards shards, CancellationToken cancellationToken)
    {
        Finalizing?.Invoke(manifest);
        var encoded = ManifestCodec.Encode(manifest);
        var key = StoreKeys.ManifestKey(manifest.RunId, manifest.Step);
        CrashPoints.Hit(CrashPoints.BeforeManifest);
        try
        {
            await CreateAsync(manifest, key, encoded, cancellationToken).ConfigureAwait(false);
        }
        catch (CheckpointConflictException)
        {
            // Another writer's manifest holds the step; ours was never written.
            await shards.DeleteAsync(store).ConfigureAwait(false);
            throw;
        }
        catch (Exception ex)
        {
            switch (await ProveAsync(key, encoded).ConfigureAwait(false))
            {
                case true:
                    break; // it landed: committed, whatever the call said
                case false:
                    await RemoveIfBrokenAsync(manifest, key).ConfigureAwait(false);
                    await shards.DeleteAsync(store).ConfigureAwait(false);
                    throw;
                default:
                    throw new CheckpointStoreException(
                        $"The commit of step {manifest.Step} of run '{manifest.RunId}' is uncertain: the manifest write failed ({ex.Message}) and " +
                        "the store could not be read back to tell whether it landed. Its shards are kept, so the checkpoint is either whole or invisible.", ex);
            }
        }
        CrashPoints.Hit(CrashPoints.AfterManifest);
        return shards.Bytes + encoded.Length;
    }

    private async Task CreateAsync(CheckpointManifest manifest, string key, byte[] encoded, CancellationToken cancellationToken)
    {
        try
        {
            await store.CreateExclusiveAsync(key, encoded, cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (CheckpointConflictException)
        {
            // A manifest of an abandoned timeline (or a damaged one) can never be restored by this run: replace it.
            bool replace = isAbandoned?.Invoke(manifest.Step) == true || await IsCorruptAsync(manifest, cancellationToken).ConfigureAwait(false);
            if (!replace) throw;
        }
        await store.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
        await store.CreateExclusiveAsync(key, encoded, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// True only when a manifest exists at the step and fails verification. A refused create with no manifest in
    /// sight is another writer committing right now: that is a conflict, never something to overwrite.
    /// </summary>
    private async Task<bool> IsCorruptAsync(CheckpointManifest manifest, CancellationToken cancellationToken)
    {
        if (await store.GetLengthAsync(StoreKeys.ManifestKey(manifest.RunId, manifest.Step), cancellationToken).ConfigureAwait(false) is null) return false;
        try
        {
            await CheckpointReader.OpenAsync(store, manifest.RunId, manifest.Step, cancellationToken).ConfigureAwait(false);
            return false;
        }
        catch (CheckpointCorruptException)
        {
            return true;
        }
    }

    /// <summary>
    /// After a failed write that did not land: a manifest object left in its place that does not decode is the
    /// remains of our own write (a body cut short and stored anyway). It lists as committed but can never be read,
    /// so it is removed. One that decodes is another writer's commit and stays. Best effort: a broken manifest left
    /// behind is skipped by resume as corrupt.
    /// </summary>
    private async Task RemoveIfBrokenAsync(CheckpointManifest manifest, string key)
    {
        try
        {
            var length = await store.GetLengthAsync(key, CancellationToken.None).ConfigureAwait(false);
            if (length is null || length > ManifestCodec.MaxManifestBytes) return;
            var stored = new byte[length.Value];
            int read = await store.ReadAsync(key, 0, stored, CancellationToken.None).ConfigureAwait(false);
            try
            {
                ManifestCodec.Decode(stored.AsSpan(0, read), key, manifest.RunId, manifest.Step);
                return;
            }
            catch (CheckpointCorruptException)
            {
            }
            await store.DeleteAsync(key, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Best effort, see above.
        }
    }

    /// <summary>
    /// Reads the manifest back, ignoring the caller's cancellation (clean-up must not be decided by a guess): true
    /// when our exact bytes are there, false when the key is empty or holds another writer's manifest, null when the
    /// store could not be read.
    /// </summary>
    private async Task<bool?> ProveAsync(string key, byte[] encoded)
    {
        var pause = ProofBackoff;
        for (int attempt = 1; attempt <= ProofAttempts; attempt++)
        {
            try
            {
                var length = await store.GetLengthAsync(key, CancellationToken.None).ConfigureAwait(false);
                if (length is null) return false;
                if (length != encoded.Length) return false;
                var stored = new byte[encoded.Length];
                int read = await store.ReadAsync(key, 0, stored, CancellationToken.None).ConfigureAwait(false);
                return read == stored.Length && stored.AsSpan().SequenceEqual(encoded);
            }
            catch (Exception) when (attempt < ProofAttempts)
            {
                await Task.Delay(pause).ConfigureAwait(false);
                pause *= 4;
            }
            catch (Exception)
            {
                return null;
            }
        }
        return null;
    }
}
