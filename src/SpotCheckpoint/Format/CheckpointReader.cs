using System.Buffers;
using System.IO.Hashing;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Format;

/// <summary>
/// Reads one committed checkpoint back: the manifest (checksum-verified), the shard frames (sizes and header
/// checksums) or chunk packs (sizes), and tensor bytes (each tensor's, or in version 2 each chunk's, checksum
/// verified as it is read).
/// </summary>
public sealed partial class CheckpointReader
{
    private readonly ICheckpointStore _store;

    private CheckpointReader(ICheckpointStore store, string runId, long step, CheckpointManifest manifest)
    {
        _store = store;
        RunId = runId;
        Step = step;
        Manifest = manifest;
    }

    /// <summary>The run.</summary>
    public string RunId { get; }

    /// <summary>The step.</summary>
    public long Step { get; }

    /// <summary>The verified manifest.</summary>
    public CheckpointManifest Manifest { get; }

    /// <summary>The store key of a shard.</summary>
    public string ShardKey(int shard) => StoreKeys.StepPrefix(RunId, Step) + Manifest.Shards[shard].File;

    /// <summary>
    /// Reads and verifies the manifest of <paramref name="step"/>. Throws <see cref="CheckpointCorruptException"/>
    /// when it is missing or damaged.
    /// </summary>
    public static async Task<CheckpointReader> OpenAsync(ICheckpointStore store, string runId, long step, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var key = StoreKeys.ManifestKey(runId, step);
        var length = await store.GetLengthAsync(key, cancellationToken).ConfigureAwait(false)
            ?? throw new CheckpointCorruptException(key, "the manifest is missing");
        if (length > ManifestCodec.MaxManifestBytes) throw new CheckpointCorruptException(key, "the manifest is larger than 64 MiB");
        var buffer = new byte[length];
        int read = await store.ReadAsync(key, 0, buffer, cancellationToken).ConfigureAwait(false);
        if (read != length) throw new CheckpointCorruptException(key, $"the manifest is truncated ({read} of {length} bytes)");
        var manifest = ManifestCodec.Decode(buffer, key, runId, step);
        return new CheckpointReader(store, runId, step, manifest);
    }

    /// <summary>Checks every shard's size and header checksum, or in version 2 every pack's size (cheap: reads headers only).</summary>
    public async Task VerifyFramesAsync(CancellationToken cancellationToken = default)
    {
        if (Manifest.IsChunked)
        {
            await VerifyPacksAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        for (int i = 0; i < Manifest.Shards.Count; i++)
        {
            var shard = Manifest.Shards[i];
            var key = ShardKey(i);
            var length = await _store.GetLengthAsync(key, cancellationToken).ConfigureAwait(false);
            if (length is null) throw new CheckpointCorruptException(key, "the shard is missing");
            if (length != shard.Bytes) throw new CheckpointCorruptException(key, $"the shard has {length} bytes, the manifest records {shard.Bytes}");
            var header = new byte[shard.DataOffset];
            int read = await _store.ReadAsync(key, 0, header, cancellationToken).ConfigureAwait(false);
            if (read != header.Length) throw new CheckpointCorruptException(key, "the shard header is truncated");
            if (SafetensorsHeader.Hex(XxHash3.HashToUInt64(header)) != shard.HeaderXxh3)
                throw new CheckpointCorruptException(key, "the shard header checksum does not match");
        }
    }

    /// <summary>
    /// Reads a tensor's bytes into <paramref name="destination"/> (at least <see cref="TensorEntry.Bytes"/> long)
    /// and verifies its checksum. On a mismatch the destination holds unverified bytes and
    /// <see cref="CheckpointCorruptException"/> is thrown.
    /// </summary>
    public async Task ReadTensorAsync(TensorEntry tensor, IntPtr destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (Manifest.IsChunked)
        {
            await ReadChunksAsync(tensor, destination, cancellationToken).ConfigureAwait(false);
            return;
        }
        var key = ShardKey(tensor.Shard);
        ulong hash = await HashedCopy.ReadAsync(_store, key, tensor.Offset, tensor.Bytes, destination, advance: true, $"tensor '{tensor.Name}'", cancellationToken).ConfigureAwait(false);
        if (SafetensorsHeader.Hex(hash) != tensor.Xxh3)
            throw new CheckpointCorruptException(key, $"the checksum of tensor '{tensor.Name}' does not match");
    }

    /// <summary>Reads a tensor into a new array and verifies it (for small tensors such as RNG state).</summary>
    public async Task<byte[]> ReadTensorBytesAsync(TensorEntry tensor, CancellationToken cancellationToken = default)
    {
        if (tensor.Bytes > int.MaxValue) throw new CheckpointCorruptException(StoreKeys.ManifestKey(RunId, Step), $"tensor '{tensor.Name}' is too large for this use");
        var bytes = new byte[tensor.Bytes];
        using var buffer = new HostBuffer(Math.Max(1, tensor.Bytes));
        await ReadTensorAsync(tensor, AddressOf(buffer), cancellationToken).ConfigureAwait(false);
        buffer.Span(0, bytes.Length).CopyTo(bytes);
        return bytes;
    }

    /// <summary>Reads and checks every byte of the checkpoint without restoring anything.</summary>
    public async Task VerifyAllAsync(CancellationToken cancellationToken = default)
    {
        await VerifyFramesAsync(cancellationToken).ConfigureAwait(false);
        if (Manifest.IsChunked)
        {
            await VerifyChunksAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        long largest = Manifest.Tensors.Count == 0 ? 1 : Math.Max(1, Manifest.Tensors.Max(t => Math.Min(t.Bytes, HashedCopy.ChunkBytes)));
        using var scratch = new HostBuffer(largest);
        foreach (var tensor in Manifest.Tensors)
        {
            var key = ShardKey(tensor.Shard);
            ulong hash = await HashedCopy.ReadAsync(_store, key, tensor.Offset, tensor.Bytes, AddressOf(scratch), advance: false, $"tensor '{tensor.Name}'", cancellationToken).ConfigureAwait(false);
            if (SafetensorsHeader.Hex(hash) != tensor.Xxh3)
                throw new CheckpointCorruptException(key, $"the checksum of tensor '{tensor.Name}' does not match");
        }
    }

    private static unsafe IntPtr AddressOf(HostBuffer buffer) => (IntPtr)buffer.Pointer;
}
