using System.IO.Hashing;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Format;

// Version 2: tensors are lists of chunks stored in the run's packs (see ChunkedCheckpointWriter).
public sealed partial class CheckpointReader
{
    /// <summary>The store key of a pack (version 2).</summary>
    public string PackKey(int pack) =>
        StoreKeys.PackKey(RunId, (Manifest.Packs ?? throw new InvalidOperationException("A version-1 checkpoint has no packs."))[pack].File);

    /// <summary>
    /// The keys of every data object this checkpoint needs (its shards, or the packs its chunks live in, which may
    /// have been written by older checkpoints).
    /// </summary>
    public IReadOnlyList<string> DataKeys() => Manifest.IsChunked
        ? Manifest.Packs!.Select((_, i) => PackKey(i)).ToList()
        : Manifest.Shards.Select((_, i) => ShardKey(i)).ToList();

    /// <summary>
    /// Data bytes this checkpoint itself stored: its shards, or in version 2 the packs it wrote (chunks it
    /// references in older packs are not counted).
    /// </summary>
    public long OwnBytes => Manifest.IsChunked
        ? Manifest.Packs!.Where(p => p.Step == Step).Sum(p => p.Bytes)
        : Manifest.Shards.Sum(s => s.Bytes);

    /// <summary>
    /// Data bytes a restore of this checkpoint needs: its shards, or in version 2 every distinct chunk it references,
    /// wherever stored.
    /// </summary>
    public long TotalBytes => Manifest.IsChunked
        ? Manifest.Tensors.SelectMany(t => t.Chunks!).DistinctBy(c => (c.Pack, c.Offset, c.Xxh128)).Sum(c => c.Bytes)
        : Manifest.Shards.Sum(s => s.Bytes);

    /// <summary>Version 2: tensor bytes found in packs of older checkpoints rather than written by this one (0 in version 1).</summary>
    public long ReusedBytes => Manifest.IsChunked
        ? Manifest.Tensors.SelectMany(t => t.Chunks!).Where(c => Manifest.Packs![c.Pack].Step != Step).Sum(c => c.Bytes)
        : 0;

    private async Task VerifyPacksAsync(CancellationToken cancellationToken)
    {
        for (int i = 0; i < Manifest.Packs!.Count; i++)
        {
            var pack = Manifest.Packs[i];
            var key = PackKey(i);
            var length = await _store.GetLengthAsync(key, cancellationToken).ConfigureAwait(false);
            if (length is null) throw new CheckpointCorruptException(key, "the chunk pack is missing");
            if (length != pack.Bytes) throw new CheckpointCorruptException(key, $"the chunk pack has {length} bytes, the manifest records {pack.Bytes}");
        }
    }

    private async Task ReadChunksAsync(TensorEntry tensor, IntPtr destination, CancellationToken cancellationToken)
    {
        long done = 0;
        foreach (var chunk in tensor.Chunks!)
        {
            await ReadChunkAsync(tensor, chunk, destination + (nint)done, cancellationToken).ConfigureAwait(false);
            done += chunk.Bytes;
        }
    }

    /// <summary>Checks every distinct chunk the checkpoint references (each read once).</summary>
    private async Task VerifyChunksAsync(CancellationToken cancellationToken)
    {
        using var scratch = new HostBuffer(Math.Max(1, Manifest.ChunkBytes ?? 1));
        var seen = new HashSet<(int, long, string)>();
        foreach (var tensor in Manifest.Tensors)
        {
            foreach (var chunk in tensor.Chunks!)
            {
                if (!seen.Add((chunk.Pack, chunk.Offset, chunk.Xxh128))) continue;
                await ReadChunkAsync(tensor, chunk, AddressOf(scratch), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reads one chunk into native memory and verifies its XXH3-128; a mismatch names the chunk.</summary>
    private async Task ReadChunkAsync(TensorEntry tensor, ChunkEntry chunk, IntPtr destination, CancellationToken cancellationToken)
    {
        var key = PackKey(chunk.Pack);
        int length = (int)chunk.Bytes;
        var memory = Wrap(destination, length);
        int read = await _store.ReadAsync(key, chunk.Offset, memory, cancellationToken).ConfigureAwait(false);
        if (read != length)
            throw new CheckpointCorruptException(key, $"chunk {chunk.Xxh128} of tensor '{tensor.Name}' is truncated") { Chunk = chunk.Xxh128 };
        Span<byte> hash = stackalloc byte[16];
        XxHash128.Hash(memory.Span, hash);
        if (ChunkId.From(hash, length).Hex != chunk.Xxh128)
            throw new CheckpointCorruptException(key, $"chunk {chunk.Xxh128} of tensor '{tensor.Name}' does not match its checksum") { Chunk = chunk.Xxh128 };
    }

    private static unsafe Memory<byte> Wrap(IntPtr pointer, int length) => UnmanagedMemory.Wrap((byte*)pointer, length);
}
