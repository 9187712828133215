using TorchSharp;

namespace SpotCheckpoint.Format;

/// <summary>
/// Maps TorchSharp scalar types to safetensors dtype names and element sizes. Every TorchSharp 0.107 type that
/// safetensors can name is here; TorchSharp has no unsigned types wider than 8 bits, and ComplexFloat64 and the
/// quantized types (QInt8, QUInt8, QInt32) have no safetensors name, so tensors of those types are refused.
/// </summary>
public static class TensorDtypes
{
    private static readonly Dictionary<torch.ScalarType, (string Name, int Size)> ByType = new()
    {
        [torch.ScalarType.Float64] = ("F64", 8),
        [torch.ScalarType.Float32] = ("F32", 4),
        [torch.ScalarType.Float16] = ("F16", 2),
        [torch.ScalarType.BFloat16] = ("BF16", 2),
        [torch.ScalarType.Int64] = ("I64", 8),
        [torch.ScalarType.Int32] = ("I32", 4),
        [torch.ScalarType.Int16] = ("I16", 2),
        [torch.ScalarType.Int8] = ("I8", 1),
        [torch.ScalarType.Byte] = ("U8", 1),
        [torch.ScalarType.Bool] = ("BOOL", 1),
        [torch.ScalarType.ComplexFloat32] = ("C64", 8),
    };

    private static readonly Dictionary<string, int> SizeByName =
        ByType.Values.ToDictionary(v => v.Name, v => v.Size, StringComparer.Ordinal);

    private static readonly Dictionary<string, torch.ScalarType> TypeByName =
        ByType.ToDictionary(kv => kv.Value.Name, kv => kv.Key, StringComparer.Ordinal);

    /// <summary>Every scalar type a checkpoint can hold.</summary>
    public static IReadOnlyCollection<torch.ScalarType> Supported => ByType.Keys;

    /// <summary>True when checkpoints can hold tensors of <paramref name="type"/>.</summary>
    public static bool IsSupported(torch.ScalarType type) => ByType.ContainsKey(type);

    /// <summary>The safetensors name of <paramref name="type"/>; throws <see cref="UnsupportedStateException"/> otherwise.</summary>
    public static string NameOf(torch.ScalarType type, string tensorName) =>
        ByType.TryGetValue(type, out var v)
            ? v.Name
            : throw new UnsupportedStateException(
                $"Tensor '{tensorName}' has dtype {type}, which checkpoints cannot hold (safetensors has no name for it); " +
                $"supported: {string.Join(", ", ByType.Keys)}.");

    /// <summary>The scalar type a safetensors dtype name stands for, when TorchSharp has it.</summary>
    public static bool TryGetScalarType(string name, out torch.ScalarType type) => TypeByName.TryGetValue(name, out type);

    /// <summary>Element size of a safetensors dtype name.</summary>
    public static bool TryGetElementSize(string name, out int size) => SizeByName.TryGetValue(name, out size);
}
