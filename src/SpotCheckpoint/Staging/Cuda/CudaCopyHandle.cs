namespace SpotCheckpoint.Staging.Cuda;

/// <summary>
/// Completion of one <see cref="CudaStagingCopier.Enqueue(IReadOnlyList{DeviceToHostCopy}, CancellationToken)"/>: the
/// pinned host bytes may be read once <see cref="IsComplete"/> is true or <see cref="Wait"/>/<see cref="WaitAsync"/>
/// has returned; <see cref="DeviceStall"/> says how long the default stream waited for them.
/// </summary>
internal sealed partial class CudaCopyHandle
{
    private readonly CudaStagingCopier? _owner;
    private readonly object _sync = new();
    private readonly IntPtr _doneEvent;
    private IntPtr _event;
    private volatile bool _complete;
    private IReadOnlyList<IDisposable>? _keepAlive;

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
