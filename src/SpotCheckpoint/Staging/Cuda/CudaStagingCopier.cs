namespace SpotCheckpoint.Staging.Cuda;

/// <summary>One device-to-host copy: <paramref name="Bytes"/> bytes from device memory to (pinned) host memory.</summary>
/// <param name="Source">Device pointer (for a tensor, <see cref="TensorMemory.DataPointer"/>).</param>
/// <param name="Bytes">Number of bytes; zero is allowed and copies nothing.</param>
/// <param name="Destination">Host pointer, normally inside a <see cref="PinnedHostBuffer"/> (pageable memory works but makes the copy synchronous).</param>
internal readonly record struct DeviceToHostCopy(IntPtr Source, long Bytes, IntPtr Destination)
{
    /// <summary>
    /// The forward pass changes this tensor in place (a buffer such as BatchNorm's running statistics): with
    /// <see cref="CudaStagingMode.FenceOptimizerStep"/> it is cloned on the device before the copy.
    /// </summary>
    public bool ChangesInForward { get; init; }
}

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
internal sealed unsafe class CudaStagingCopier : IDisposable
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

    /// <summary>
    /// With <see cref="CudaStagingMode.FenceOptimizerStep"/>: call on the training thread right before each
    /// optimizer step. Makes the default stream wait for the snapshot's copies still running (the host is not
    /// blocked) and times that wait; does nothing when none is pending or in the other modes.
    /// </summary>
    public void BeforeOptimizerStep()
    {
        if (Volatile.Read(ref _awaitingFence) is null) return;
        lock (_gate)
        {
            if (_disposed || _awaitingFence is not { } handle) return;
            _awaitingFence = null;
            using var scope = CudaRuntime.UseDevice(Device);
            FenceLocked(handle);
        }
    }

    private void FenceLocked(CudaCopyHandle handle)
    {
        if (handle.IsComplete)
        {
            handle.SetFence(IntPtr.Zero, IntPtr.Zero); // the copy finished before it was needed: no stall
            return;
        }
        var start = RentTimer();
        var end = RentTimer();
        CudaRuntime.EventRecord(start, CudaRuntime.DefaultStream);
        // The handle's event is rented under this lock, so it cannot be recycled while we wait on it here.
        CudaRuntime.StreamWaitEvent(CudaRuntime.DefaultStream, handle.DoneEvent);
        CudaRuntime.EventRecord(end, CudaRuntime.DefaultStream);
        handle.SetFence(start, end);
    }

    private bool Clones(DeviceToHostCopy copy) =>
        Mode == CudaStagingMode.DeviceClone || (Mode == CudaStagingMode.FenceOptimizerStep && copy.ChangesInForward);

    private void EnsureScratch(long bytes)
    {
        // The scratch may still be read by the previous snapshot's copies: let those finish first (one snapshot at a
        // time holds the staging buffers anyway, so this rarely waits). Its event cannot be recycled while we hold
        // the gate; waiting on the event rather than the handle keeps the lock order (handle, then gate).
        if (_scratchReader is { IsComplete: false } reader) CudaRuntime.EventSynchronize(reader.DoneEvent);
        _scratchReader = null;
        if (_scratchBytes >= bytes) return;
        if (_scratch != IntPtr.Zero)
        {
            CudaRuntime.Free(_scratch);
            _scratch = IntPtr.Zero;
            _scratchBytes = 0;
        }
        _scratch = CudaRuntime.Malloc(bytes);
        _scratchBytes = bytes;
    }

    /// <summary>Reads the device stall of handles whose timing events have completed and recycles those events.</summary>
    private void CollectTimings()
    {
        for (int i = _timing.Count - 1; i >= 0; i--)
        {
            if (_timing[i].TryCollectTiming()) _timing.RemoveAt(i);
        }
    }

    /// <summary>Reads <paramref name="handle"/>'s device stall when its timing events have completed.</summary>
    internal void CollectTiming(CudaCopyHandle handle)
    {
        lock (_gate)
        {
            if (_disposed) return;
            using var scope = CudaRuntime.UseDevice(Device);
            if (handle.TryCollectTiming()) _timing.Remove(handle);
        }
    }

    private IntPtr RentEvent()
    {
        if (_freeEvents.Count > 0) return _freeEvents.Pop();
        var created = CudaRuntime.EventCreate(CudaRuntime.EventDisableTiming);
        _events.Add(created);
        return created;
    }

    private IntPtr RentTimer()
    {
        if (_freeTimers.Count > 0) return _freeTimers.Pop();
        var created = CudaRuntime.EventCreate(CudaRuntime.EventDefault);
        _timers.Add(created);
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

    /// <summary>Called by a handle once its timing events have been read.</summary>
    internal void ReturnTimer(IntPtr cudaEvent)
    {
        if (cudaEvent == IntPtr.Zero) return;
        lock (_gate)
        {
            if (!_disposed) _freeTimers.Push(cudaEvent);
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

/// <summary>
/// Completion of one <see cref="CudaStagingCopier.Enqueue(IReadOnlyList{DeviceToHostCopy}, CancellationToken)"/>: the
/// pinned host bytes may be read once <see cref="IsComplete"/> is true or <see cref="Wait"/>/<see cref="WaitAsync"/>
/// has returned; <see cref="DeviceStall"/> says how long the default stream waited for them.
/// </summary>
internal sealed class CudaCopyHandle
{
    private readonly CudaStagingCopier? _owner;
    private readonly object _sync = new();
    private readonly IntPtr _doneEvent;
    private IntPtr _event;
    private volatile bool _complete;
    private IReadOnlyList<IDisposable>? _keepAlive;

    // Timing (guarded by the owner's gate): the clone/fence at enqueue, then the optimizer-step fence if any.
    private IntPtr _start, _end, _fenceStart, _fenceEnd;
    private bool _fencePending;
    private double _stallMs;
    private long _stallTicks = -1;

    internal CudaCopyHandle(CudaStagingCopier owner, IntPtr cudaEvent, long bytes, IntPtr start, IntPtr end, IReadOnlyList<IDisposable>? keepAlive, bool fencePending)
    {
        _owner = owner;
        _event = cudaEvent;
        _doneEvent = cudaEvent;
        Bytes = bytes;
        _start = start;
        _end = end;
        _keepAlive = keepAlive;
        _fencePending = fencePending;
    }

    private CudaCopyHandle()
    {
        _complete = true;
        _stallTicks = 0;
    }

    /// <summary>A handle for an empty copy, already complete.</summary>
    public static CudaCopyHandle Completed { get; } = new();

    /// <summary>Bytes copied.</summary>
    public long Bytes { get; }

    /// <summary>The copy-done event (valid while the owner's gate is held, or until the handle completes).</summary>
    internal IntPtr DoneEvent => _doneEvent;

    /// <summary>
    /// How long kernels queued on the default stream after the snapshot waited for it (the clone and the fence,
    /// measured with CUDA events on the default stream); null until known: the copies and the fence have run, and
    /// with <see cref="CudaStagingMode.FenceOptimizerStep"/> the next optimizer step's fence has been placed.
    /// </summary>
    public TimeSpan? DeviceStall
    {
        get
        {
            long ticks = Interlocked.Read(ref _stallTicks);
            if (ticks < 0 && _owner is { IsDisposed: false } owner)
            {
                owner.CollectTiming(this);
                ticks = Interlocked.Read(ref _stallTicks);
            }
            return ticks >= 0 ? TimeSpan.FromTicks(ticks) : null;
        }
    }

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

    /// <summary>Records the optimizer-step fence's timing events (zero: none was needed). Owner's gate held.</summary>
    internal void SetFence(IntPtr start, IntPtr end)
    {
        _fenceStart = start;
        _fenceEnd = end;
        _fencePending = false;
    }

    /// <summary>Reads the stall once every timing event has completed and returns the events; owner's gate held.</summary>
    internal bool TryCollectTiming()
    {
        if (Interlocked.Read(ref _stallTicks) >= 0) return true;
        if (_start != IntPtr.Zero)
        {
            if (!CudaRuntime.EventQuery(_end)) return false;
            _stallMs += CudaRuntime.EventElapsedMilliseconds(_start, _end);
            _owner!.ReturnTimer(_start);
            _owner.ReturnTimer(_end);
            _start = _end = IntPtr.Zero;
        }
        if (_fencePending) return false;
        if (_fenceStart != IntPtr.Zero)
        {
            if (!CudaRuntime.EventQuery(_fenceEnd)) return false;
            _stallMs += CudaRuntime.EventElapsedMilliseconds(_fenceStart, _fenceEnd);
            _owner!.ReturnTimer(_fenceStart);
            _owner.ReturnTimer(_fenceEnd);
            _fenceStart = _fenceEnd = IntPtr.Zero;
        }
        Interlocked.Exchange(ref _stallTicks, (long)Math.Round(_stallMs * TimeSpan.TicksPerMillisecond));
        return true;
    }

    /// <summary>Disposes the temporaries the copies read (once).</summary>
    internal void ReleaseKeepAlive()
    {
        var items = Interlocked.Exchange(ref _keepAlive, null);
        if (items is null) return;
        foreach (var item in items) item.Dispose();
    }

    private bool MarkComplete(bool returnEvent)
    {
        var cudaEvent = _event;
        _event = IntPtr.Zero;
        _complete = true;
        ReleaseKeepAlive();
        if (returnEvent && cudaEvent != IntPtr.Zero) _owner!.ReturnEvent(cudaEvent);
        return true;
    }
}

/// <summary>One <see cref="CudaStagingCopier"/> per device, created on first use and kept for the owner's lifetime.</summary>
/// <param name="mode">The staging mode of every copier (<see cref="CudaStagingMode.FenceDefaultStream"/> by default).</param>
internal sealed class CudaStagingCopierPool(CudaStagingMode mode = CudaStagingMode.FenceDefaultStream) : IDisposable
{
    private readonly Dictionary<int, CudaStagingCopier> _copiers = new();
    private bool _disposed;

    /// <summary>The staging mode of the copiers.</summary>
    public CudaStagingMode Mode => mode;

    /// <summary>With <see cref="CudaStagingMode.FenceOptimizerStep"/>: places each device's pending wait before the optimizer step.</summary>
    public void BeforeOptimizerStep()
    {
        if (mode != CudaStagingMode.FenceOptimizerStep) return;
        lock (_copiers)
        {
            foreach (var copier in _copiers.Values) copier.BeforeOptimizerStep();
        }
    }

    /// <summary>The copier for <paramref name="device"/> (see <see cref="CudaStagingCopier"/>).</summary>
    public CudaStagingCopier For(int device)
    {
        lock (_copiers)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_copiers.TryGetValue(device, out var copier))
            {
                copier = new CudaStagingCopier(device, mode);
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
