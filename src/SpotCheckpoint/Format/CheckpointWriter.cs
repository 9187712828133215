using System.Globalization;
using System.IO.Hashing;
using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Format;

/// <summary>The data objects (shards or chunk packs) one attempt wrote, so that they can be removed when the checkpoint is proven absent.</summary>
internal sealed class WrittenShards
{
    public List<string> Keys { get; } = new();

    /// <summary>Data bytes written by this attempt.</summary>
    public long Bytes { get; set; }

    /// <summary>Data bytes referenced where an older checkpoint already stored them (incremental checkpoints).</summary>
    public long ReusedBytes { get; init; }

    /// <summary>Best effort: a shard left behind is invisible (no manifest names it) and retention removes it later.</summary>
    public async Task DeleteAsync(ICheckpointStore store)
    {
        foreach (var key in Keys)
        {
            try { await store.DeleteAsync(key, CancellationToken.None).ConfigureAwait(false); }
            catch (Exception) { /* best effort, see above */ }
        }
    }
}

/// <summary>
/// Writes the shards of a staged snapshot: each shard is streamed to the store (header, then tensor bytes straight
/// from the staging buffers, hashed on the way) and recorded in the manifest. It never writes the manifest: the
/// commit is <see cref="Commit.CheckpointCommitter"/>'s. If a shard write fails, the shards written so far are removed.
/// </summary>
internal static class CheckpointWriter
{
    public static async Task<WrittenShards> WriteShardsAsync(ICheckpointStore store, CheckpointManifest manifest, StagingArena arena, CancellationToken cancellationToken)
    {
        var prefix = StoreKeys.StepPrefix(manifest.RunId, manifest.Step);
        var layout = arena.Layout;
        manifest.Shards.Clear();
        manifest.Tensors.Clear();
        var written = new WrittenShards();
        // A per-attempt tag keeps two writers of the same step from ever touching each other's shards.
        var attempt = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next())).ToLowerInvariant();
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
                // The length is known up front: object stores plan their part size from it, or refuse before a byte is sent.
                await using (var writer = await store.OpenWriteAsync(key, header.Length + layout.ShardDataBytes[shard], cancellationToken).ConfigureAwait(false))
                {
                    written.Keys.Add(key);
                    await writer.WriteAsync(header, cancellationToken).ConfigureAwait(false);
                    foreach (var t in members)
                    {
                        ulong hash = await HashedCopy.WriteAsync(writer, arena.Buffers[shard], t.DataOffset, t.Bytes, cancellationToken).ConfigureAwait(false);
                        manifest.Tensors.Add(new TensorEntry
                        {
                            Name = t.Name,
                            Dtype = t.Dtype,
                            Shape = t.Shape,
                            Shard = shard,
                            Offset = header.Length + t.DataOffset,
                            Bytes = t.Bytes,
                            Xxh3 = SafetensorsHeader.Hex(hash),
                        });
                    }
                    await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
                }
                CrashPoints.Hit(CrashPoints.AfterShard);
                long shardBytes = header.Length + layout.ShardDataBytes[shard];
                manifest.Shards.Add(new ShardEntry
                {
                    File = file,
                    Bytes = shardBytes,
                    DataOffset = header.Length,
                    HeaderXxh3 = SafetensorsHeader.Hex(XxHash3.HashToUInt64(header)),
                });
                written.Bytes += shardBytes;
            }
            return written;
        }
        catch (Exception)
        {
            // No manifest was started: these shards are certainly invisible, so removing them is safe.
            await written.DeleteAsync(store).ConfigureAwait(false);
            throw;
        }
    }
}
