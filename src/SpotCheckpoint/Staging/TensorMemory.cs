using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Staging;

/// <summary>Raw access to a tensor's bytes, including tensors over 2 GB that <c>Tensor.bytes</c> cannot span.</summary>
internal static unsafe class TensorMemory
{
    private static readonly delegate* unmanaged<IntPtr, IntPtr> DataFunction = Resolve();

    private static delegate* unmanaged<IntPtr, IntPtr> Resolve()
    {
        // LibTorchSharp exports THSTensor_data (data pointer including the storage offset, any device).
        if (NativeLibrary.TryLoad("LibTorchSharp", typeof(torch).Assembly, null, out var lib) &&
            NativeLibrary.TryGetExport(lib, "THSTensor_data", out var fn))
        {
            return (delegate* unmanaged<IntPtr, IntPtr>)fn;
        }
        return null;
    }

    /// <summary>Number of bytes the tensor's elements occupy.</summary>
    public static long ByteLength(Tensor tensor) => tensor.NumberOfElements * tensor.ElementSize;

    /// <summary>
    /// Pointer to the first element of a contiguous tensor (device memory for CUDA tensors). Throws for
    /// non-contiguous tensors.
    /// </summary>
    public static IntPtr DataPointer(Tensor tensor)
    {
        if (!tensor.is_contiguous()) throw new InvalidOperationException("The tensor is not contiguous.");
        if (ByteLength(tensor) == 0) return IntPtr.Zero;
        if (DataFunction != null)
        {
            var ptr = DataFunction(tensor.Handle);
            if (ptr != IntPtr.Zero) return ptr;
        }
        if (tensor.device_type != DeviceType.CPU)
            throw new InvalidOperationException("The device pointer of this tensor cannot be read.");
        fixed (byte* p = tensor.bytes) return (IntPtr)p;
    }
}
