using System.IO.Hashing;
using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Format;

/// <summary>How an incremental checkpoint is cut and packed.</summary>
/// <param name="ChunkBytes">Chunk size; chunks start at each tensor's first byte, so an unchanged tensor gives the same chunks.</param>
/// <param name="MaxPackBytes">The largest pack (object) written; new chunks are appended to a pack until it would pass this.</param>
/// <param name="Full">Write every chunk again (an independent checkpoint), reusing nothing older.</param>
internal readonly record struct ChunkWriteSettings(long ChunkBytes, long MaxPackBytes, bool Full)
{
    /// <summary>The chunk size the library writes: small enough that a change rewrites little, large enough to keep the manifest small.</summary>
    public const int DefaultChunkBytes = 4 << 20;
}

/// <summary>
/// Writes the data of a version-2 (incremental) checkpoint. Every staged tensor is cut into chunks and each chunk
/// hashed (XXH3-128) in the background persist; a chunk the <see cref="ChunkIndex"/> knows is referenced where it
/// already lies, every other chunk is appended to one of this checkpoint's packs (few large objects, each written
/// with its length known up front). Its invariant: when it returns, every chunk the manifest references is in a
/// completed pack, and every pack it reuses was seen in the store. It never writes the manifest.
/// </summary>
internal static class ChunkedCheckpointWriter
{
    private sealed class NewPack(PackEntry entry)
    {
        public PackEntry Entry { get; } = entry;
        public List<(HostBuffer Buffer, long Offset, long Length)> Pieces { get; } = new();
    }

    public static async Task<WrittenShards> WriteAsync(ICheckpointStore store, CheckpointManifest manifest, StagingArena arena, ChunkIndex index, PackLease lease,
        ChunkWriteSettings settings, CancellationToken cancellationToken)
    {
        var attempt = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next())).ToLowerInvariant();
        var (packs, reused) = Plan(manifest, arena, index, lease, settings, attempt);
        var written = new WrittenShards { ReusedBytes = reused };
        try
        {
            foreach (var pack in packs)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var key = StoreKeys.PackKey(manifest.RunId, pack.Entry.File);
                await using (var writer = await store.OpenWriteAsync(key, pack.Entry.Bytes, cancellationToken).ConfigureAwait(false))
                {
                    written.Keys.Add(key);
                    foreach (var (buffer, offset, length) in pack.Pieces)
                        await HashedCopy.WriteUnhashedAsync(writer, buffer, offset, length, cancellationToken).ConfigureAwait(false);
                    await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
                }
                CrashPoints.Hit(CrashPoints.AfterShard);
                written.Bytes += pack.Entry.Bytes;
            }
            await CheckReusedAsync(store, manifest, packs, index, cancellationToken).ConfigureAwait(false);
            CrashPoints.Hit(CrashPoints.AfterChunks);
            return written;
        }
        catch (Exception)
        {
            // No manifest was started: these packs are certainly invisible, so removing them is safe.
            await written.DeleteAsync(store).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Hashes every chunk and decides where it lives; fills the manifest's tensors and packs.</summary>
    private static (List<NewPack> Packs, long Reused) Plan(CheckpointManifest manifest, StagingArena arena, ChunkIndex index, PackLease lease,
        ChunkWriteSettings settings, string attempt)
    {
        manifest.SchemaVersion = CheckpointManifest.ChunkedSchemaVersion;
        manifest.Shards.Clear();
        manifest.Tensors.Clear();
        manifest.Packs = new List<PackEntry>();
        manifest.ChunkBytes = settings.ChunkBytes;
        var packIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var fresh = new Dictionary<ChunkId, (int Pack, long Offset)>();
        var packs = new List<NewPack>();
        long reused = 0;
        Span<byte> hash = stackalloc byte[16];

        int IndexOf(PackEntry pack)
        {
            if (packIndex.TryGetValue(pack.File, out var i)) return i;
            manifest.Packs.Add(new PackEntry { File = pack.File, Bytes = pack.Bytes, Step = pack.Step });
            return packIndex[pack.File] = manifest.Packs.Count - 1;
        }

        foreach (var t in arena.Layout.Tensors)
        {
            var buffer = arena.Buffers[t.Shard];
            var chunks = new List<ChunkEntry>();
            for (long start = 0; start < t.Bytes; start += settings.ChunkBytes)
            {
                int length = (int)Math.Min(settings.ChunkBytes, t.Bytes - start);
                long at = t.DataOffset + start;
                XxHash128.Hash(buffer.Span(at, length), hash);
                var id = ChunkId.From(hash, length);
                int packNumber;
                long offset;
                if (fresh.TryGetValue(id, out var mine))
                {
                    (packNumber, offset) = mine; // the same bytes twice in this checkpoint (zeroed state, tied copies): stored once
                }
                else if (!settings.Full && index.TryFind(id, lease, out var known))
                {
                    packNumber = IndexOf(known.Pack);
                    offset = known.Offset;
                    reused += length;
                }
                else
                {
                    if (packs.Count == 0 || (packs[^1].Entry.Bytes > 0 && packs[^1].Entry.Bytes + length > settings.MaxPackBytes))
                    {
                        var entry = new PackEntry { File = StoreKeys.PackFileName(manifest.Step, attempt, packs.Count), Step = manifest.Step };
                        packs.Add(new NewPack(entry));
                        IndexOf(entry);
                        lease.Pin(entry.File);
                    }
                    var pack = packs[^1];
                    packNumber = packIndex[pack.Entry.File];
                    offset = pack.Entry.Bytes;
                    var pieces = pack.Pieces;
                    // Neighbouring chunks of the staging buffer go out as one write.
                    if (pieces.Count > 0 && pieces[^1].Buffer == buffer && pieces[^1].Offset + pieces[^1].Length == at)
                        pieces[^1] = (buffer, pieces[^1].Offset, pieces[^1].Length + length);
                    else
                        pieces.Add((buffer, at, length));
                    pack.Entry.Bytes += length;
                    fresh[id] = (packNumber, offset);
                }
                chunks.Add(new ChunkEntry { Xxh128 = id.Hex, Bytes = length, Pack = packNumber, Offset = offset });
            }
            manifest.Tensors.Add(new TensorEntry { Name = t.Name, Dtype = t.Dtype, Shape = t.Shape, Bytes = t.Bytes, Chunks = chunks });
        }
        // The manifest's copies of the new packs carry their final sizes.
        foreach (var pack in packs) manifest.Packs[packIndex[pack.Entry.File]].Bytes = pack.Entry.Bytes;
        return (packs, reused);
    }

    /// <summary>
    /// A reused pack must still be in the store with its recorded size before a manifest may reference it: another
    /// process's collector may have removed it since it was indexed. A missing one fails this checkpoint (the next
    /// writes those chunks again), never a manifest pointing at nothing.
    /// </summary>
    private static async Task CheckReusedAsync(ICheckpointStore store, CheckpointManifest manifest, List<NewPack> written, ChunkIndex index, CancellationToken cancellationToken)
    {
        var mine = written.Select(p => p.Entry.File).ToHashSet(StringComparer.Ordinal);
        foreach (var pack in manifest.Packs!.Where(p => !mine.Contains(p.File)))
        {
            var key = StoreKeys.PackKey(manifest.RunId, pack.File);
            var length = await store.GetLengthAsync(key, cancellationToken).ConfigureAwait(false);
            if (length == pack.Bytes) continue;
            index.ForgetPack(pack.File);
            throw new CheckpointStoreException(
                $"The checkpoint at step {manifest.Step} of run '{manifest.RunId}' reuses chunks of '{key}', which is " +
                (length is null ? "gone" : $"{length} bytes instead of {pack.Bytes}") + " (removed by another writer's clean-up?). Its chunks are written again by the next checkpoint.");
        }
    }
}
