namespace SpotCheckpoint.Staging.Cuda;

/// <summary>
/// Restores bytes into device memory through a few reusable pinned buffers with overlapped host-to-device copies:
/// while one buffer's copy runs on a side stream, the next is filled from the checkpoint, and at most
/// <see cref="BuffersInFlight"/> copies are in flight (the pinned memory used is bounded by buffers × chunk, whatever
/// the state's size). Replaces pageable temporaries and synchronous copies, which serialise reading and copying and
/// hold one tensor-sized temporary per worker.
/// </summary>
/// <remarks>
/// Call <see cref="CopyToDeviceAsync"/> for each CUDA tensor (its data pointer and byte length) with a callback that
/// fills a pinned chunk with the tensor's bytes at a given offset (for example a read from the shard), then
/// <see cref="Complete"/>: it makes the default stream wait for the copies (kernels that use the restored tensors
/// run after them) and waits until the pinned buffers are free. One loader serves one device and one thread.
/// </remarks>
internal sealed class CudaHostToDeviceLoader : IDisposable
{
    /// <summary>Default chunk: 64 MiB per pinned buffer.</summary>
    public const int DefaultChunkBytes = 64 << 20;

    private readonly PinnedHostBuffer[] _buffers;
    private readonly IntPtr[] _copied;
    private readonly bool[] _busy;
    private readonly IntPtr _stream;
    private readonly IntPtr _allCopied;
    private int _next;
    private bool _disposed;

    /// <summary>Creates the side stream, the events and <paramref name="buffersInFlight"/> pinned buffers of <paramref name="chunkBytes"/>.</summary>
    public CudaHostToDeviceLoader(int device, int buffersInFlight = 3, int chunkBytes = DefaultChunkBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(device);
        ArgumentOutOfRangeException.ThrowIfLessThan(buffersInFlight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, 4096);
        Device = device;
        using var scope = CudaRuntime.UseDevice(device);
        _buffers = new PinnedHostBuffer[buffersInFlight];
        _copied = new IntPtr[buffersInFlight];
        _busy = new bool[buffersInFlight];
        _stream = CudaRuntime.StreamCreate(CudaRuntime.StreamNonBlocking);
        _allCopied = CudaRuntime.EventCreate(CudaRuntime.EventDisableTiming);
        for (int i = 0; i < buffersInFlight; i++)
        {
            _buffers[i] = new PinnedHostBuffer(chunkBytes);
            _copied[i] = CudaRuntime.EventCreate(CudaRuntime.EventDisableTiming);
        }
        ChunkBytes = chunkBytes;
    }

    /// <summary>The device restored into.</summary>
    public int Device { get; }

    /// <summary>Bytes per pinned buffer.</summary>
    public int ChunkBytes { get; }

    /// <summary>The most host-to-device copies in flight at once (= pinned buffers).</summary>
    public int BuffersInFlight => _buffers.Length;

    /// <summary>
    /// Copies <paramref name="bytes"/> bytes to <paramref name="devicePointer"/>, chunk by chunk: <paramref name="fill"/>
    /// receives a pinned chunk and the offset within the tensor and must fill the chunk entirely. Returns once the
    /// last chunk is queued; the copies finish in the background (see <see cref="Complete"/>).
    /// </summary>
    public async ValueTask CopyToDeviceAsync(IntPtr devicePointer, long bytes, Func<Memory<byte>, long, ValueTask> fill, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(fill);
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (bytes > 0 && devicePointer == IntPtr.Zero) throw new ArgumentException("The device pointer is null.", nameof(devicePointer));
        for (long offset = 0; offset < bytes;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int slot = _next;
            _next = (_next + 1) % _buffers.Length;
            // Bounded in flight: a buffer is refilled only after its previous copy has finished.
            if (_busy[slot]) CudaRuntime.EventSynchronize(_copied[slot]);
            int length = (int)Math.Min(ChunkBytes, bytes - offset);
            await fill(_buffers[slot].Memory(0, length), offset).ConfigureAwait(false);
            Enqueue(slot, devicePointer, offset, length);
            offset += length;
        }
    }

    private unsafe void Enqueue(int slot, IntPtr devicePointer, long offset, int length)
    {
        using var scope = CudaRuntime.UseDevice(Device);
        CudaRuntime.MemcpyAsync((byte*)devicePointer + offset, _buffers[slot].Pointer, length, CudaRuntime.MemcpyKind.HostToDevice, _stream);
        CudaRuntime.EventRecord(_copied[slot], _stream);
        _busy[slot] = true;
    }

    /// <summary>
    /// Orders the default stream after every queued copy (no host wait for that) and waits until the pinned
    /// buffers are free; the restored tensors may be used by TorchSharp afterwards.
    /// </summary>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var scope = CudaRuntime.UseDevice(Device);
        CudaRuntime.EventRecord(_allCopied, _stream);
        CudaRuntime.StreamWaitEvent(CudaRuntime.DefaultStream, _allCopied);
        CudaRuntime.EventSynchronize(_allCopied);
        Array.Clear(_busy);
    }

    /// <summary>Waits for the copies still running, then frees the buffers, the events and the stream.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            using var scope = CudaRuntime.UseDevice(Device);
            CudaRuntime.EventRecord(_allCopied, _stream);
            CudaRuntime.EventSynchronize(_allCopied);
            foreach (var e in _copied) if (e != IntPtr.Zero) CudaRuntime.EventDestroy(e);
            CudaRuntime.EventDestroy(_allCopied);
            CudaRuntime.StreamDestroy(_stream);
        }
        catch (InvalidOperationException)
        {
            // Process shutdown or a broken context: nothing more to release.
        }
        foreach (var b in _buffers) b?.Dispose();
    }
}
