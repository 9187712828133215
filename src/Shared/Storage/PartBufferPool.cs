using System.Collections.Concurrent;

namespace SpotCheckpoint.Storage;

/// <summary>
/// The part buffers of one store: at most <c>parallelism + 1</c> are ever in use per writer (one filling, the rest
/// uploading), and a few are kept for the next object, so memory stays bounded by part size × parallelism no matter
/// how large a checkpoint is.
/// </summary>
internal sealed class PartBufferPool(int bufferSize, int keep)
{
    private readonly ConcurrentBag<byte[]> _free = new();

    /// <summary>The size of every buffer.</summary>
    public int BufferSize { get; } = bufferSize;

    /// <summary>Takes a buffer (allocating one when none is free).</summary>
    public byte[] Rent() => _free.TryTake(out var buffer) ? buffer : GC.AllocateUninitializedArray<byte>(BufferSize);

    /// <summary>Gives a buffer back; beyond the kept count it is left to the garbage collector.</summary>
    public void Return(byte[] buffer)
    {
        if (buffer.Length == BufferSize && _free.Count < keep) _free.Add(buffer);
    }
}
