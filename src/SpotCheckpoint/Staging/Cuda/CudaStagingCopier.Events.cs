namespace SpotCheckpoint.Staging.Cuda;

// The reusable CUDA events (completion and timing) and the collection of each handle's device-stall timing.
internal sealed partial class CudaStagingCopier
{
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
}
