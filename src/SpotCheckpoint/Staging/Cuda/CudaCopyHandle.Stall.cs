namespace SpotCheckpoint.Staging.Cuda;

// The device stall: the timing events of the clone/fence at enqueue and of the optimizer-step fence.
internal sealed partial class CudaCopyHandle
{
    // Timing (guarded by the owner's gate): the clone/fence at enqueue, then the optimizer-step fence if any.
    private IntPtr _start, _end, _fenceStart, _fenceEnd;
    private bool _fencePending;
    private double _stallMs;
    private long _stallTicks = -1;

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
}
