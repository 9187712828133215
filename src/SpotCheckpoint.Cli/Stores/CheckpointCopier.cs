using System.Buffers;
using System.IO.Hashing;
using SpotCheckpoint.Cli.Commands;
using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Stores;

/// <summary>
/// Copies committed checkpoints of one run from any store to any store, byte for byte: shards first (each checked
/// against the manifest's size, header checksum and tensor checksums as it streams through, so a corrupt source is
/// never committed at the destination), the manifest last and exclusively, as the checkpointer commits. Then, unless
/// told otherwise, the copy is read back and verified; a copy that does not verify is deleted again.
/// </summary>
internal sealed class CheckpointCopier(ICheckpointStore source, ICheckpointStore destination, string runId)
{
    private const int ChunkBytes = 8 << 20;

    /// <summary>Called with the byte count of every chunk copied or read back.</summary>
    public Action<long> Progress { get; init; } = _ => { };

    /// <summary>Copies one checkpoint. A corrupt source or copy is a result; other errors propagate.</summary>
    public async Task<CopyEntry> CopyAsync(long step, bool verify, CancellationToken cancellationToken)
    {
        var manifestKey = StoreKeys.ManifestKey(runId, step);
        CheckpointReader reader;
        try
        {
            reader = await CheckpointReader.OpenAsync(source, runId, step, cancellationToken).ConfigureAwait(false);
        }
        catch (CheckpointCorruptException ex)
        {
            return new CopyEntry(step, "corrupt", 0, ex.ObjectName, "the source is corrupt: " + ex.Problem);
        }
        var manifestBytes = await ReadAllAsync(source, manifestKey, cancellationToken).ConfigureAwait(false);
        if (await destination.GetLengthAsync(manifestKey, cancellationToken).ConfigureAwait(false) is not null)
        {
            var existing = await ReadAllAsync(destination, manifestKey, cancellationToken).ConfigureAwait(false);
            if (existing.AsSpan().SequenceEqual(manifestBytes)) return new CopyEntry(step, "present", 0, null, null);
            throw new CheckpointConflictException(manifestKey);
        }

        long bytes = 0;
        var written = new List<string>();
        try
        {
            if (reader.Manifest.IsChunked) bytes += await CopyPacksAsync(reader, written, cancellationToken).ConfigureAwait(false);
            for (int i = 0; i < reader.Manifest.Shards.Count; i++)
            {
                var key = reader.ShardKey(i);
                written.Add(key);
                bytes += await CopyShardAsync(reader.Manifest, i, key, cancellationToken).ConfigureAwait(false);
            }
            await destination.CreateExclusiveAsync(manifestKey, manifestBytes, cancellationToken).ConfigureAwait(false);
            bytes += manifestBytes.Length;
        }
        catch (CheckpointCorruptException ex)
        {
            await DeleteQuietlyAsync(written).ConfigureAwait(false);
            return new CopyEntry(step, "corrupt", bytes, ex.ObjectName, "the source is corrupt: " + ex.Problem);
        }
        catch
        {
            await DeleteQuietlyAsync(written).ConfigureAwait(false);
            throw;
        }

        if (verify)
        {
            var observed = new ObservedStore(destination) { BytesRead = Progress };
            var check = await VerifyCommand.VerifyOneAsync(observed, runId, step, cancellationToken).ConfigureAwait(false);
            if (check.Status != "verified")
            {
                await CheckpointCatalog.DeleteCheckpointAsync(destination, runId, step, CancellationToken.None).ConfigureAwait(false);
                return new CopyEntry(step, "corrupt", bytes, check.Object, "the copy does not verify (deleted again): " + check.Problem);
            }
        }
        return new CopyEntry(step, "copied", bytes, null, null);
    }

    /// <summary>Copies a small object of the run as it is (such as the adaptive policy's hazard.json); false when the source has none.</summary>
    public async Task<bool> CopyObjectAsync(string key, CancellationToken cancellationToken)
    {
        if (await source.GetLengthAsync(key, cancellationToken).ConfigureAwait(false) is null) return false;
        var content = await ReadAllAsync(source, key, cancellationToken).ConfigureAwait(false);
        await using var writer = await destination.OpenWriteAsync(key, content.Length, cancellationToken).ConfigureAwait(false);
        await writer.WriteAsync(content, cancellationToken).ConfigureAwait(false);
        await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Version 2: every chunk the checkpoint references is verified at the source, then each pack it references is
    /// copied unless the destination holds it already (shared with a checkpoint copied before); only packs this call
    /// wrote are listed in <paramref name="written"/> (for removal on failure).
    /// </summary>
    private async Task<long> CopyPacksAsync(CheckpointReader reader, List<string> written, CancellationToken cancellationToken)
    {
        await reader.VerifyAllAsync(cancellationToken).ConfigureAwait(false);
        long bytes = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            for (int i = 0; i < reader.Manifest.Packs!.Count; i++)
            {
                var pack = reader.Manifest.Packs[i];
                var key = reader.PackKey(i);
                if (await destination.GetLengthAsync(key, cancellationToken).ConfigureAwait(false) == pack.Bytes) continue;
                written.Add(key);
                await using var writer = await destination.OpenWriteAsync(key, pack.Bytes, cancellationToken).ConfigureAwait(false);
                for (long position = 0; position < pack.Bytes;)
                {
                    int want = (int)Math.Min(ChunkBytes, pack.Bytes - position);
                    int read = await source.ReadAsync(key, position, buffer.AsMemory(0, want), cancellationToken).ConfigureAwait(false);
                    if (read <= 0) throw new CheckpointCorruptException(key, $"the chunk pack is truncated ({position} of {pack.Bytes} bytes)");
                    await writer.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    position += read;
                    Progress(read);
                }
                await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
                bytes += pack.Bytes;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return bytes;
    }

    private async Task<long> CopyShardAsync(CheckpointManifest manifest, int shardIndex, string key, CancellationToken cancellationToken)
    {
        var shard = manifest.Shards[shardIndex];
        var length = await source.GetLengthAsync(key, cancellationToken).ConfigureAwait(false)
            ?? throw new CheckpointCorruptException(key, "the shard is missing");
        if (length != shard.Bytes) throw new CheckpointCorruptException(key, $"the shard has {length} bytes, the manifest records {shard.Bytes}");
        var tensors = manifest.Tensors.Where(t => t.Shard == shardIndex).OrderBy(t => t.Offset).ToArray();
        var checks = new ShardChecks(shard.DataOffset, tensors);

        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            // The length is known: object stores plan their part size from it (or refuse before a byte is sent).
            await using var writer = await destination.OpenWriteAsync(key, shard.Bytes, cancellationToken).ConfigureAwait(false);
            for (long position = 0; position < shard.Bytes;)
            {
                int want = (int)Math.Min(ChunkBytes, shard.Bytes - position);
                int read = await source.ReadAsync(key, position, buffer.AsMemory(0, want), cancellationToken).ConfigureAwait(false);
                if (read <= 0) throw new CheckpointCorruptException(key, $"the shard is truncated ({position} of {shard.Bytes} bytes)");
                checks.Append(buffer.AsSpan(0, read), position);
                await writer.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                position += read;
                Progress(read);
            }
            checks.Verify(key, shard.HeaderXxh3);
            await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return shard.Bytes;
    }

    private static async Task<byte[]> ReadAllAsync(ICheckpointStore store, string key, CancellationToken cancellationToken)
    {
        var length = await store.GetLengthAsync(key, cancellationToken).ConfigureAwait(false)
            ?? throw new CheckpointCorruptException(key, "the object is missing");
        if (length > ManifestCodec.MaxManifestBytes) throw new CheckpointCorruptException(key, "the object is larger than 64 MiB");
        var content = new byte[length];
        for (int done = 0; done < content.Length;)
        {
            int read = await store.ReadAsync(key, done, content.AsMemory(done), cancellationToken).ConfigureAwait(false);
            if (read <= 0) throw new CheckpointCorruptException(key, $"the object is truncated ({done} of {length} bytes)");
            done += read;
        }
        return content;
    }

    private async Task DeleteQuietlyAsync(IEnumerable<string> keys)
    {
        foreach (var key in keys)
        {
            try { await destination.DeleteAsync(key, CancellationToken.None).ConfigureAwait(false); }
            catch (Exception ex) when (ex is not OutOfMemoryException) { } // best effort: prune removes what is left
        }
    }

    /// <summary>The header and per-tensor XXH3 checksums of one shard, computed as its bytes stream past.</summary>
    private sealed class ShardChecks(long dataOffset, TensorEntry[] tensors)
    {
        private readonly XxHash3 _header = new();
        private readonly XxHash3[] _tensors = tensors.Select(_ => new XxHash3()).ToArray();

        public void Append(ReadOnlySpan<byte> chunk, long position)
        {
            long end = position + chunk.Length;
            if (position < dataOffset) _header.Append(chunk[..(int)(Math.Min(end, dataOffset) - position)]);
            for (int i = 0; i < tensors.Length; i++)
            {
                long from = Math.Max(position, tensors[i].Offset);
                long to = Math.Min(end, tensors[i].Offset + tensors[i].Bytes);
                if (from < to) _tensors[i].Append(chunk.Slice((int)(from - position), (int)(to - from)));
            }
        }

        public void Verify(string key, string headerXxh3)
        {
            if (!Matches(_header, headerXxh3)) throw new CheckpointCorruptException(key, "the shard header checksum does not match");
            for (int i = 0; i < tensors.Length; i++)
            {
                if (!Matches(_tensors[i], tensors[i].Xxh3)) throw new CheckpointCorruptException(key, $"the checksum of tensor '{tensors[i].Name}' does not match");
            }
        }

        private static bool Matches(XxHash3 hash, string expected) =>
            string.Equals(hash.GetCurrentHashAsUInt64().ToString("x16", System.Globalization.CultureInfo.InvariantCulture), expected, StringComparison.OrdinalIgnoreCase);
    }
}
