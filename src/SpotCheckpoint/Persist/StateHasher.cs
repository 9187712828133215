using System.Security.Cryptography;
using SpotCheckpoint.Format;
using SpotCheckpoint.Staging;
using SpotCheckpoint.State;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Persist;

/// <summary>SHA-256 over the registered state in a canonical order (see <see cref="Checkpointer.ComputeStateSha256"/>).</summary>
internal static class StateHasher
{
    public static string Compute(TrainingStateRegistry registry)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var owned = new List<Tensor>();
        using (torch.NewDisposeScope())
        {
            try
            {
                var (tensors, manifest) = registry.Capture(owned);
                foreach (var (name, tensor) in tensors)
                {
                    hash.AppendData(System.Text.Encoding.UTF8.GetBytes($"{name}|{TensorDtypes.NameOf(tensor.dtype, name)}|{string.Join(',', tensor.shape)}\n"));
                    var cpu = tensor.device_type == DeviceType.CPU && tensor.is_contiguous() ? tensor : tensor.detach().to(CPU).contiguous();
                    long length = TensorMemory.ByteLength(cpu);
                    if (length > 0) HashedCopy.Append(hash, TensorMemory.DataPointer(cpu), length);
                }
                manifest.CreatedUtc = default;
                hash.AppendData(ManifestCodec.Encode(manifest));
            }
            finally
            {
                foreach (var t in owned) t.Dispose();
            }
        }
        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }
}
