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
