namespace SpotCheckpoint.Staging.Cuda;

/// <summary>
/// Copies device memory into pinned host buffers on a dedicated non-blocking stream of one device, so the training
/// thread only pays for enqueueing the copies. The copies are ordered after all work already queued on the legacy
/// default stream (where TorchSharp runs everything): an event is recorded there and the copy stream waits on it.
/// A copy-done event is then recorded on the copy stream; the returned <see cref="CudaCopyHandle"/> tells when the
/// host bytes are final, and how long the default stream waited (<see cref="CudaCopyHandle.DeviceStall"/>).
/// </summary>
/// <remarks>
/// <para>
/// Fence: TorchSharp updates parameters and optimizer state in place on the default stream, and the caching
/// allocator hands freed device blocks to the next kernel on that stream, so the bytes must be protected until the
/// copy has read them. <see cref="CudaStagingMode.FenceDefaultStream"/> makes the default stream wait for the copy;
/// <see cref="CudaStagingMode.FenceOptimizerStep"/> places that wait in <see cref="BeforeOptimizerStep"/> (after
/// cloning on the device what forward changes); <see cref="CudaStagingMode.DeviceClone"/> clones everything on the
/// device and copies from the clone. Temporaries passed as <c>keepAlive</c> (the <c>.contiguous()</c> copies of
/// strided tensors) are disposed only once their copy has finished, so their device blocks are not reused early.
/// </para>
/// <para>
/// The device stall is measured with timing events recorded on the default stream just before and after the wait
/// (or the clone): their distance on the GPU's timeline is how long kernels queued after the snapshot were held up.
/// The stream, the events and the clone scratch are created once and reused. Each copy is split into pieces of at
/// most <see cref="MaxCopyBytes"/> so that cancellation is checked between pieces. Enqueue is thread-safe; one
/// copier serves one device.
/// </para>
/// </remarks>
internal sealed unsafe partial class CudaStagingCopier : IDisposable
{
    /// <summary>Largest single cudaMemcpyAsync issued (1 GiB).</summary>
    public const long MaxCopyBytes = 1L << 30;

    private readonly object _gate = new();
    private readonly IntPtr _stream;
    private readonly IntPtr _computeDone;
    private readonly Stack<IntPtr> _freeEvents = new();
    private readonly Stack<IntPtr> _freeTimers = new();
    private readonly List<IntPtr> _events = new();
    private readonly List<IntPtr> _timers = new();
    private readonly List<CudaCopyHandle> _timing = new();
    private IntPtr _scratch;
    private long _scratchBytes;
    private CudaCopyHandle? _scratchReader;
    private CudaCopyHandle? _awaitingFence;
    private volatile bool _disposed;

    /// <summary>Creates the copy stream and its ordering event on <paramref name="device"/>.</summary>
    /// <param name="device">CUDA device index of the memory to copy.</param>
    /// <param name="mode">How training is kept off the bytes until they are copied (see remarks).</param>
    public CudaStagingCopier(int device, CudaStagingMode mode = CudaStagingMode.FenceDefaultStream)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(device);
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown CUDA staging mode.");
        Device = device;
        Mode = mode;
        using var scope = CudaRuntime.UseDevice(device);
        _stream = CudaRuntime.StreamCreate(CudaRuntime.StreamNonBlocking);
        try
        {
            _computeDone = CudaRuntime.EventCreate(CudaRuntime.EventDisableTiming);
        }
        catch
        {
            CudaRuntime.StreamDestroy(_stream);
            throw;
        }
    }

    /// <summary>The device whose memory this copier reads.</summary>
    public int Device { get; }

    /// <summary>How the copies are fenced against training.</summary>
    public CudaStagingMode Mode { get; }

    /// <summary>Whether the default stream waits for each copy before running later work.</summary>
    public bool FenceDefaultStream => Mode == CudaStagingMode.FenceDefaultStream;

    /// <summary>Bytes of device memory held for clones (<see cref="CudaStagingMode.DeviceClone"/>, or forward-changed tensors).</summary>
    public long CloneScratchBytes { get { lock (_gate) return _scratchBytes; } }

    internal bool IsDisposed => _disposed;

    /// <summary>Enqueues <paramref name="copies"/>; see <see cref="Enqueue(IReadOnlyList{DeviceToHostCopy}, IReadOnlyList{IDisposable}, CancellationToken)"/>.</summary>
    public CudaCopyHandle Enqueue(IReadOnlyList<DeviceToHostCopy> copies, CancellationToken cancellationToken = default) =>
        Enqueue(copies, null, cancellationToken);

    /// <summary>
    /// Enqueues <paramref name="copies"/> and returns as soon as they are queued. The host bytes are final once the
    /// returned handle completes; do not read or reuse the destination before that. <paramref name="keepAlive"/>
    /// (device temporaries the copies read) is disposed once the copies have finished, or at once when nothing
    /// was queued.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled between two pieces; the pieces already queued have finished when it is thrown.</exception>
    /// <exception cref="InvalidOperationException">A CUDA call failed (the message names it).</exception>
    public CudaCopyHandle Enqueue(IReadOnlyList<DeviceToHostCopy> copies, IReadOnlyList<IDisposable>? keepAlive, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(copies);
        long total = 0, cloned = 0;
        foreach (var copy in copies)
        {
            if (copy.Bytes < 0) throw new ArgumentOutOfRangeException(nameof(copies), "A copy has a negative length.");
            if (copy.Bytes > 0 && (copy.Source == IntPtr.Zero || copy.Destination == IntPtr.Zero))
                throw new ArgumentException("A copy has a null source or destination.", nameof(copies));
            total += copy.Bytes;
            if (Clones(copy)) cloned += copy.Bytes;
        }
        if (cancellationToken.IsCancellationRequested || total == 0)
        {
            DisposeAll(keepAlive);
            cancellationToken.ThrowIfCancellationRequested();
            return CudaCopyHandle.Completed;
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var scope = CudaRuntime.UseDevice(Device);
            CollectTimings();
            var done = RentEvent();
            var start = RentTimer();
            var end = RentTimer();
            bool recorded = false;
            bool cancelled = false;
            try
            {
                if (cloned > 0) EnsureScratch(cloned);
                CudaRuntime.EventRecord(start, CudaRuntime.DefaultStream);
                // Clones first, on the default stream: ordered after the step's compute and before anything later.
                long scratchOffset = 0;
                var sources = new IntPtr[copies.Count];
                for (int i = 0; i < copies.Count; i++)
                {
                    var copy = copies[i];
                    sources[i] = copy.Source;
                    if (copy.Bytes == 0 || !Clones(copy)) continue;
                    var clone = (byte*)_scratch + scratchOffset;
                    for (long offset = 0; offset < copy.Bytes; offset += MaxCopyBytes)
                        CudaRuntime.MemcpyAsync(clone + offset, (byte*)copy.Source + offset, Math.Min(MaxCopyBytes, copy.Bytes - offset),
                            CudaRuntime.MemcpyKind.DeviceToDevice, CudaRuntime.DefaultStream);
                    sources[i] = (IntPtr)clone;
                    scratchOffset += copy.Bytes;
                }
                // Order the copies after everything already queued on the default stream (the step's compute, the clones).
                CudaRuntime.EventRecord(_computeDone, CudaRuntime.DefaultStream);
                CudaRuntime.StreamWaitEvent(_stream, _computeDone);
                for (int i = 0; i < copies.Count && !cancelled; i++)
                {
                    var copy = copies[i];
                    for (long offset = 0; offset < copy.Bytes; offset += MaxCopyBytes)
                    {
                        if (cancellationToken.IsCancellationRequested)
                        {
                            cancelled = true;
                            break;
                        }
                        long length = Math.Min(MaxCopyBytes, copy.Bytes - offset);
                        CudaRuntime.MemcpyAsync((byte*)copy.Destination + offset, (byte*)sources[i] + offset, length,
                            CudaRuntime.MemcpyKind.DeviceToHost, _stream);
                    }
                }
                CudaRuntime.EventRecord(done, _stream);
                recorded = true;
                if (Mode == CudaStagingMode.FenceDefaultStream) CudaRuntime.StreamWaitEvent(CudaRuntime.DefaultStream, done);
                CudaRuntime.EventRecord(end, CudaRuntime.DefaultStream);
            }
            catch
            {
                // Leave nothing running against memory the caller may free once we throw.
                try
                {
                    if (!recorded) CudaRuntime.EventRecord(done, _stream);
                    CudaRuntime.EventSynchronize(done);
                }
                catch (InvalidOperationException)
                {
                    // The context is broken; the original error says why.
                }
                ReturnEvent(done);
                ReturnTimer(start);
                ReturnTimer(end);
                DisposeAll(keepAlive);
                throw;
            }

            var handle = new CudaCopyHandle(this, done, total, start, end, keepAlive, fencePending: Mode == CudaStagingMode.FenceOptimizerStep);
            _timing.Add(handle);
            if (cloned > 0) _scratchReader = handle;
            if (Mode == CudaStagingMode.FenceOptimizerStep)
            {
                // A second snapshot before any optimizer step: the first one's wait cannot be put off further.
                if (_awaitingFence is { } earlier) FenceLocked(earlier);
                _awaitingFence = handle;
            }
            if (cancelled)
            {
                handle.Wait();
                throw new OperationCanceledException("The device-to-host staging copy was cancelled.", cancellationToken);
            }
            return handle;
        }
    }

    private static void DisposeAll(IReadOnlyList<IDisposable>? items)
    {
        if (items is null) return;
        foreach (var item in items) item.Dispose();
    }

    /// <summary>Waits for every copy still running, then destroys the stream, the events and the clone scratch.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            try
            {
                using var scope = CudaRuntime.UseDevice(Device);
                foreach (var cudaEvent in _events) CudaRuntime.EventSynchronize(cudaEvent);
                foreach (var timer in _timers) CudaRuntime.EventSynchronize(timer);
                _disposed = true;
                foreach (var handle in _timing) handle.ReleaseKeepAlive();
                foreach (var cudaEvent in _events) CudaRuntime.EventDestroy(cudaEvent);
                foreach (var timer in _timers) CudaRuntime.EventDestroy(timer);
                CudaRuntime.EventDestroy(_computeDone);
                CudaRuntime.StreamDestroy(_stream);
                if (_scratch != IntPtr.Zero) CudaRuntime.Free(_scratch);
            }
            catch (InvalidOperationException)
            {
                // Process shutdown (cudart already unloading) or a broken context: nothing more to release.
            }
            _disposed = true;
            _scratch = IntPtr.Zero;
            _events.Clear();
            _freeEvents.Clear();
            _timers.Clear();
            _freeTimers.Clear();
            _timing.Clear();
        }
    }
}
