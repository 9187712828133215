using System.IO.Hashing;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Format;

/// <summary>
/// The one chunked copy-and-hash loop: tensor bytes move between staging memory and a store in chunks of
/// <see cref="ChunkBytes"/>, each chunk hashed (XXH3) on the way, so no tensor is ever held twice in memory.
/// </summary>
internal static class HashedCopy
{
    /// <summary>Bytes moved per store call: large enough to amortise a request, small enough to keep memory flat.</summary>
    public const int ChunkBytes = 16 << 20;

    /// <summary>The largest span one hash call takes (spans are int-sized).</summary>
    public const int MaxSpanBytes = 1 << 30;

    /// <summary>Streams <paramref name="bytes"/> of <paramref name="buffer"/> from <paramref name="offset"/> to the writer; returns their XXH3.</summary>
    public static async Task<ulong> WriteAsync(CheckpointObjectWriter writer, HostBuffer buffer, long offset, long bytes, CancellationToken cancellationToken)
    {
        var hash = new XxHash3();
        for (long done = 0; done < bytes;)
        {
            int length = (int)Math.Min(ChunkBytes, bytes - done);
            var memory = buffer.Memory(offset + done, length);
            // Started first: a store that writes from this memory in the background (the local store's O_DIRECT path)
            // reads it to the disk while it is hashed here; both only read it.
            var writing = writer.WriteAsync(memory, cancellationToken);
            hash.Append(memory.Span);
            await writing.ConfigureAwait(false);
            done += length;
        }
        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>Streams <paramref name="bytes"/> of <paramref name="buffer"/> from <paramref name="offset"/> to the writer unhashed (the caller hashed them already: chunks).</summary>
    public static async Task WriteUnhashedAsync(CheckpointObjectWriter writer, HostBuffer buffer, long offset, long bytes, CancellationToken cancellationToken)
    {
        for (long done = 0; done < bytes;)
        {
            int length = (int)Math.Min(ChunkBytes, bytes - done);
            await writer.WriteAsync(buffer.Memory(offset + done, length), cancellationToken).ConfigureAwait(false);
            done += length;
        }
    }

    /// <summary>
    /// Reads <paramref name="bytes"/> of <paramref name="key"/> from <paramref name="offset"/> into native memory at
    /// <paramref name="destination"/> (advancing it when <paramref name="advance"/>, else reusing one chunk); returns their XXH3.
    /// Throws <see cref="CheckpointCorruptException"/> when the object ends early.
    /// </summary>
    public static async Task<ulong> ReadAsync(ICheckpointStore store, string key, long offset, long bytes, IntPtr destination, bool advance, string what, CancellationToken cancellationToken)
    {
        var hash = new XxHash3();
        for (long done = 0; done < bytes;)
        {
            int length = (int)Math.Min(ChunkBytes, bytes - done);
            var memory = Wrap(advance ? destination + (nint)done : destination, length);
            int read = await store.ReadAsync(key, offset + done, memory, cancellationToken).ConfigureAwait(false);
            if (read != length) throw new CheckpointCorruptException(key, $"{what} is truncated");
            hash.Append(memory.Span);
            done += length;
        }
        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>Hashes native memory in spans of at most <see cref="MaxSpanBytes"/>.</summary>
    public static unsafe void Append(System.Security.Cryptography.IncrementalHash hash, IntPtr pointer, long length)
    {
        byte* p = (byte*)pointer;
        for (long done = 0; done < length;)
        {
            int n = (int)Math.Min(MaxSpanBytes, length - done);
            hash.AppendData(new ReadOnlySpan<byte>(p + done, n));
            done += n;
        }
    }

    private static unsafe Memory<byte> Wrap(IntPtr pointer, int length) => UnmanagedMemory.Wrap((byte*)pointer, length);
}
