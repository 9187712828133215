namespace SpotCheckpoint.Staging.Cuda;

/// <summary>
/// Page-locked (pinned) host memory from <c>cudaHostAlloc</c> with <c>cudaHostAllocPortable</c>, so device-to-host
/// copies into it run at full PCIe/NVLink speed and <c>cudaMemcpyAsync</c> returns without waiting. Allocated once
/// per staging arena and reused; released with <c>cudaFreeHost</c>.
/// </summary>
/// <remarks>
/// Pinned memory cannot be paged out, so it is a scarce resource: size it to one snapshot per staging slot. Never
/// dispose it while a copy into it may still be running (wait on the copy's <see cref="CudaCopyHandle"/> first).
/// </remarks>
internal sealed unsafe class PinnedHostBuffer : HostBuffer
{
    /// <summary>Allocates <paramref name="length"/> bytes of portable pinned host memory (throws when CUDA is unavailable).</summary>
    public PinnedHostBuffer(long length)
        : base(CudaRuntime.HostAlloc(length, CudaRuntime.HostAllocPortable), length)
    {
    }

    /// <summary>Frees with cudaFreeHost; failures (for example while the process and its CUDA runtime shut down) are ignored.</summary>
    protected override void Free(byte* pointer) => CudaRuntime.TryFreeHost(pointer);
}
