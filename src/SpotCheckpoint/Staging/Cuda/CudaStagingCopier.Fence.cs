namespace SpotCheckpoint.Staging.Cuda;

// The optimizer-step fence and the device clones of the mode-specific staging (CudaStagingMode).
internal sealed partial class CudaStagingCopier
{
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
}
