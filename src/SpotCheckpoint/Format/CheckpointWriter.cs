using System.Globalization;
using System.IO.Hashing;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Format;

/// <summary>
/// Persists a staged snapshot: each shard is streamed to the store (header, then tensor bytes straight from the
/// staging buffers, hashed on the way), and the manifest is created last and exclusively. Until the manifest
/// exists the checkpoint is invisible; if anything fails, the shards written so far are removed.
/// </summary>
internal static class CheckpointWriter
{
    private const int ChunkBytes = 16 << 20;

    /// <summary>
    /// True only when a manifest exists at the step and fails verification. A refused create with no manifest in
    /// sight is another writer committing right now: that is a conflict, never something to overwrite.
    /// </summary>
    private static async Task<bool> IsCorruptAsync(ICheckpointStore store, string runId, long step, CancellationToken cancellationToken)
    {
        if (await store.GetLengthAsync(StoreKeys.ManifestKey(runId, step), cancellationToken).ConfigureAwait(false) is null) return false;
        try
        {
            await CheckpointReader.OpenAsync(store, runId, step, cancellationToken).ConfigureAwait(false);
            return false;
        }
        catch (CheckpointCorruptException)
        {
            return true;
        }
    }

    public static async Task<long> PersistAsync(ICheckpointStore store, CheckpointManifest manifest, StagingArena arena, CancellationToken cancellationToken, Action<long>? beforeManifest = null)
    {
        var prefix = StoreKeys.StepPrefix(manifest.RunId, manifest.Step);
        var layout = arena.Layout;
        manifest.Shards.Clear();
        manifest.Tensors.Clear();
        var written = new List<string>();
        // A per-attempt tag keeps two writers of the same step from ever touching each other's shards.
        var attempt = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next())).ToLowerInvariant();
        long totalBytes = 0;
        try
        {
            for (int shard = 0; shard < layout.ShardDataBytes.Length; shard++)
            {
                var members = layout.Tensors.Where(t => t.Shard == shard).ToList();
                var header = SafetensorsHeader.Build(
                    members.Select(t => (t.Name, t.Dtype, t.Shape, t.DataOffset, t.DataOffset + t.Bytes)).ToList(),
                    new Dictionary<string, string>
                    {
                        ["format"] = "pt",
                        ["spotcheckpoint.run"] = manifest.RunId,
                        ["spotcheckpoint.step"] = manifest.Step.ToString(CultureInfo.InvariantCulture),
                    });
                var file = $"shard-{shard:D5}.{attempt}.safetensors";
                var key = prefix + file;
                await using var writer = await store.OpenWriteAsync(key, cancellationToken).ConfigureAwait(false);
                written.Add(key);
                await writer.WriteAsync(header, cancellationToken).ConfigureAwait(false);
                var buffer = arena.Buffers[shard];
                foreach (var t in members)
                {
                    var hash = new XxHash3();
                    for (long done = 0; done < t.Bytes;)
                    {
                        int length = (int)Math.Min(ChunkBytes, t.Bytes - done);
                        var memory = buffer.Memory(t.DataOffset + done, length);
                        hash.Append(memory.Span);
                        await writer.WriteAsync(memory, cancellationToken).ConfigureAwait(false);
                        done += length;
                    }
                    manifest.Tensors.Add(new TensorEntry
                    {
                        Name = t.Name,
                        Dtype = t.Dtype,
                        Shape = t.Shape,
                        Shard = shard,
                        Offset = header.Length + t.DataOffset,
                        Bytes = t.Bytes,
                        Xxh3 = SafetensorsHeader.Hex(hash.GetCurrentHashAsUInt64()),
                    });
                }
                await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
                long shardBytes = header.Length + layout.ShardDataBytes[shard];
                manifest.Shards.Add(new ShardEntry
                {
                    File = file,
                    Bytes = shardBytes,
                    DataOffset = header.Length,
                    HeaderXxh3 = SafetensorsHeader.Hex(XxHash3.HashToUInt64(header)),
                });
                totalBytes += shardBytes;
            }

            beforeManifest?.Invoke(totalBytes); // the run's history records the persist duration and size up to here
            var encoded = ManifestCodec.Encode(manifest);
            var manifestKey = prefix + StoreKeys.ManifestFileName;
            bool committed = false;
            try
            {
                await store.CreateExclusiveAsync(manifestKey, encoded, cancellationToken).ConfigureAwait(false);
                committed = true;
            }
            catch (CheckpointConflictException)
            {
                if (!await IsCorruptAsync(store, manifest.RunId, manifest.Step, cancellationToken).ConfigureAwait(false)) throw;
            }
            if (!committed)
            {
                // A damaged manifest of an earlier attempt holds the key; it can never be restored, so replace it.
                await store.DeleteAsync(manifestKey, cancellationToken).ConfigureAwait(false);
                await store.CreateExclusiveAsync(manifestKey, encoded, cancellationToken).ConfigureAwait(false);
            }
            return totalBytes + encoded.Length;
        }
        catch (Exception)
        {
            foreach (var key in written)
            {
                try { await store.DeleteAsync(key, CancellationToken.None).ConfigureAwait(false); }
                catch (Exception) { /* best effort: retention removes leftovers later */ }
            }
            throw;
        }
    }
}
