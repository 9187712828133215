namespace SpotCheckpoint.Staging.Cuda;

/// <summary>One device-to-host copy: <paramref name="Bytes"/> bytes from device memory to (pinned) host memory.</summary>
/// <param name="Source">Device pointer (for a tensor, <see cref="TensorMemory.DataPointer"/>).</param>
/// <param name="Bytes">Number of bytes; zero is allowed and copies nothing.</param>
/// <param name="Destination">Host pointer, normally inside a <see cref="PinnedHostBuffer"/> (pageable memory works but makes the copy synchronous).</param>
internal readonly record struct DeviceToHostCopy(IntPtr Source, long Bytes, IntPtr Destination);

/// <summary>
/// Copies device memory into pinned host buffers on a dedicated non-blocking stream of one device, so the training
/// thread only pays for enqueueing the copies. The copies are ordered after all work already queued on the legacy
/// default stream (where TorchSharp runs everything): an event is recorded there and the copy stream waits on it.
/// A copy-done event is then recorded on the copy stream; the returned <see cref="CudaCopyHandle"/> tells when the
/// host bytes are final.
/// </summary>
/// <remarks>
/// <para>
/// Fence: TorchSharp updates parameters and optimizer state in place on the default stream, and the caching
/// allocator hands freed device blocks to the next kernel on that stream. Unless the default stream waits for the
/// copy-done event, the next optimizer step (or a kernel writing into a freed temporary) can overwrite bytes
/// before they are copied, and the snapshot is torn. With <c>fenceDefaultStream</c> (the default) the default
/// stream waits on the copy-done event: the host thread is not blocked, and GPU work queued after the snapshot
/// starts once the copies finish. Turn it off only when nothing queued before the persist writes the source memory.
/// </para>
/// <para>
/// The stream and the events are created once and reused. Each copy is split into pieces of at most
/// <see cref="MaxCopyBytes"/> so that cancellation is checked between pieces. Enqueue is thread-safe; one copier
/// serves one device.
/// </para>
/// </remarks>
internal sealed unsafe class CudaStagingCopier : IDisposable
{
    /// <summary>Largest single cudaMemcpyAsync issued (1 GiB).</summary>
    public const long MaxCopyBytes = 1L << 30;

    private readonly object _gate = new();
    private readonly IntPtr _stream;
    private readonly IntPtr _computeDone;
    private readonly Stack<IntPtr> _freeEvents = new();
    private readonly List<IntPtr> _events = new();
    private volatile bool _disposed;

    /// <summary>Creates the copy stream and its ordering event on <paramref name="device"/>.</summary>
    /// <param name="device">CUDA device index of the memory to copy.</param>
    /// <param name="fenceDefaultStream">Make the legacy default stream wait for each copy (see remarks).</param>
    public CudaStagingCopier(int device, bool fenceDefaultStream = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(device);
        Device = device;
        FenceDefaultStream = fenceDefaultStream;
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

    /// <summary>Whether the default stream waits for each copy before running later work.</summary>
    public bool FenceDefaultStream { get; }

    internal bool IsDisposed => _disposed;

    /// <summary>
    /// Enqueues <paramref name="copies"/> and returns as soon as they are queued. The host bytes are final once the
    /// returned handle completes; do not read or reuse the destination before that.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled between two pieces; the pieces already queued have finished when it is thrown.</exception>
    /// <exception cref="InvalidOperationException">A CUDA call failed (the message names it).</exception>
    public CudaCopyHandle Enqueue(IReadOnlyList<DeviceToHostCopy> copies, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(copies);
        long total = 0;
        foreach (var copy in copies)
        {
            if (copy.Bytes < 0) throw new ArgumentOutOfRangeException(nameof(copies), "A copy has a negative length.");
            if (copy.Bytes > 0 && (copy.Source == IntPtr.Zero || copy.Destination == IntPtr.Zero))
                throw new ArgumentException("A copy has a null source or destination.", nameof(copies));
            total += copy.Bytes;
        }
        cancellationToken.ThrowIfCancellationRequested();
        if (total == 0) return CudaCopyHandle.Completed;

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var scope = CudaRuntime.UseDevice(Device);
            var done = RentEvent();
            bool recorded = false;
            bool cancelled = false;
            try
            {
                // Order the copies after everything already queued on the default stream (the step's compute).
                CudaRuntime.EventRecord(_computeDone, CudaRuntime.DefaultStream);
                CudaRuntime.StreamWaitEvent(_stream, _computeDone);
                foreach (var copy in copies)
                {
                    for (long offset = 0; offset < copy.Bytes && !cancelled; offset += MaxCopyBytes)
                    {
                        if (cancellationToken.IsCancellationRequested)
                        {
                            cancelled = true;
                            break;
                        }
                        long length = Math.Min(MaxCopyBytes, copy.Bytes - offset);
                        CudaRuntime.MemcpyAsync((byte*)copy.Destination + offset, (byte*)copy.Source + offset, length,
                            CudaRuntime.MemcpyKind.DeviceToHost, _stream);
                    }
                    if (cancelled) break;
                }
                CudaRuntime.EventRecord(done, _stream);
                recorded = true;
                if (FenceDefaultStream) CudaRuntime.StreamWaitEvent(CudaRuntime.DefaultStream, done);
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
                throw;
            }

            var handle = new CudaCopyHandle(this, done, total);
            if (cancelled)
            {
                handle.Wait();
                throw new OperationCanceledException("The device-to-host staging copy was cancelled.", cancellationToken);
            }
            return handle;
        }
    }

    private IntPtr RentEvent()
    {
        if (_freeEvents.Count > 0) return _freeEvents.Pop();
        var created = CudaRuntime.EventCreate(CudaRuntime.EventDisableTiming);
        _events.Add(created);
        return created;
    }

    /// <summary>Called by a handle once its event has been seen complete.</summary>
    internal void ReturnEvent(IntPtr cudaEvent)
    {
        lock (_gate)
        {
            if (!_disposed) _freeEvents.Push(cudaEvent);
        }
    }

    /// <summary>Waits for every copy still running, then destroys the stream and the events.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            try
            {
                using var scope = CudaRuntime.UseDevice(Device);
                foreach (var cudaEvent in _events)
                {
                    CudaRuntime.EventSynchronize(cudaEvent);
                    CudaRuntime.EventDestroy(cudaEvent);
                }
                CudaRuntime.EventDestroy(_computeDone);
                CudaRuntime.StreamDestroy(_stream);
            }
            catch (InvalidOperationException)
            {
                // Process shutdown (cudart already unloading) or a broken context: nothing more to release.
            }
            _events.Clear();
            _freeEvents.Clear();
        }
    }
}

/// <summary>
/// Completion of one <see cref="CudaStagingCopier.Enqueue"/>: the pinned host bytes may be read once
/// <see cref="IsComplete"/> is true or <see cref="Wait"/>/<see cref="WaitAsync"/> has returned.
/// </summary>
internal sealed class CudaCopyHandle
{
    private readonly CudaStagingCopier? _owner;
    private readonly object _sync = new();
    private IntPtr _event;
    private volatile bool _complete;

    internal CudaCopyHandle(CudaStagingCopier owner, IntPtr cudaEvent, long bytes)
    {
        _owner = owner;
        _event = cudaEvent;
        Bytes = bytes;
    }

    private CudaCopyHandle()
    {
        _complete = true;
    }

    /// <summary>A handle for an empty copy, already complete.</summary>
    public static CudaCopyHandle Completed { get; } = new();

    /// <summary>Bytes copied.</summary>
    public long Bytes { get; }

    /// <summary>True once the copies have finished (cudaEventQuery); never blocks.</summary>
    public bool IsComplete
    {
        get
        {
            if (_complete) return true;
            if (!Monitor.TryEnter(_sync)) return false; // a Wait is in progress on another thread
            try
            {
                if (_complete) return true;
                if (_owner!.IsDisposed) return MarkComplete(returnEvent: false);
                return CudaRuntime.EventQuery(_event) && MarkComplete(returnEvent: true);
            }
            finally
            {
                Monitor.Exit(_sync);
            }
        }
    }

    /// <summary>Blocks until the copies have finished (cudaEventSynchronize).</summary>
    public void Wait()
    {
        if (_complete) return;
        lock (_sync)
        {
            if (_complete) return;
            if (!_owner!.IsDisposed) CudaRuntime.EventSynchronize(_event);
            MarkComplete(returnEvent: !_owner.IsDisposed);
        }
    }

    /// <summary>
    /// Completes when the copies have finished, polling on a thread-pool thread; cancelling stops the waiting, not
    /// the copies.
    /// </summary>
    public Task WaitAsync(CancellationToken cancellationToken = default)
    {
        if (IsComplete) return Task.CompletedTask;
        return Task.Run(async () =>
        {
            while (!IsComplete) await Task.Delay(1, cancellationToken).ConfigureAwait(false);
        }, cancellationToken);
    }

    private bool MarkComplete(bool returnEvent)
    {
        var cudaEvent = _event;
        _event = IntPtr.Zero;
        _complete = true;
        if (returnEvent && cudaEvent != IntPtr.Zero) _owner!.ReturnEvent(cudaEvent);
        return true;
    }
}

/// <summary>One <see cref="CudaStagingCopier"/> per device, created on first use and kept for the owner's lifetime.</summary>
internal sealed class CudaStagingCopierPool : IDisposable
{
    private readonly Dictionary<int, CudaStagingCopier> _copiers = new();
    private bool _disposed;

    /// <summary>The copier for <paramref name="device"/> (fenced; see <see cref="CudaStagingCopier"/>).</summary>
    public CudaStagingCopier For(int device)
    {
        lock (_copiers)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_copiers.TryGetValue(device, out var copier))
            {
                copier = new CudaStagingCopier(device);
                _copiers.Add(device, copier);
            }
            return copier;
        }
    }

    /// <summary>Waits for the copies still running and releases every stream and event.</summary>
    public void Dispose()
    {
        lock (_copiers)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var copier in _copiers.Values) copier.Dispose();
            _copiers.Clear();
        }
    }
}
