namespace SpotCheckpoint.Staging.Cuda;

/// <summary>
/// How a snapshot of CUDA tensors keeps training from changing the bytes before the device-to-host copy has read
/// them, and so how long the GPU waits for it. Measured per snapshot as the device stall (CUDA events on the
/// default stream around the wait).
/// </summary>
public enum CudaStagingMode
{
    /// <summary>
    /// The default stream waits for the device-to-host copy: kernels queued after the snapshot (the next forward
    /// and backward) start once it has finished. Safe for any training loop; the GPU stalls for about bytes ÷ copy
    /// bandwidth (about 1.5 s for 84 GB over a 55 GB/s link).
    /// </summary>
    FenceDefaultStream,

    /// <summary>
    /// Forward and backward run while the copy proceeds; the default stream waits only before the next optimizer
    /// step, since parameters and optimizer state do not change until then. Tensors that forward changes (buffers
    /// such as BatchNorm running statistics) are first cloned on the device. The training loop must let the
    /// checkpointer place the wait before each optimizer step.
    /// </summary>
    FenceOptimizerStep,

    /// <summary>
    /// Every tensor is first cloned on the device (a device-to-device copy at memory bandwidth, on the default
    /// stream), then copied to the host from the clone without holding up training. Needs spare GPU memory as large
    /// as the snapshot's CUDA tensors; the device stall is the clone alone.
    /// </summary>
    DeviceClone,
}
