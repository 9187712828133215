using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using ArmCrc32 = System.Runtime.Intrinsics.Arm.Crc32;

namespace SpotCheckpoint.Storage;

/// <summary>
/// CRC-32C (Castagnoli), the checksum Google Cloud Storage keeps for every object and S3 offers as a flexible
/// checksum. Uses the SSE4.2 instruction on x64, the ARMv8 CRC32 instruction on ARM64 (Graviton, Grace) and a table
/// otherwise. Incremental: <see cref="Append"/> any number of times.
/// </summary>
internal sealed class Crc32C
{
    /// <summary>The ways of computing the checksum; all give the same value.</summary>
    internal enum Implementation
    {
        Table,
        Sse42,
        Arm64,
    }

    private static readonly uint[] Table = BuildTable();
    private uint _state = uint.MaxValue;

    /// <summary>The fastest path this CPU supports.</summary>
    internal static Implementation Best { get; } =
        Sse42.X64.IsSupported ? Implementation.Sse42 : ArmCrc32.Arm64.IsSupported ? Implementation.Arm64 : Implementation.Table;

    /// <summary>True when this CPU can run <paramref name="path"/>.</summary>
    internal static bool IsSupported(Implementation path) => path switch
    {
        Implementation.Sse42 => Sse42.X64.IsSupported,
        Implementation.Arm64 => ArmCrc32.Arm64.IsSupported,
        _ => true,
    };

    /// <summary>Adds bytes to the checksum.</summary>
    public void Append(ReadOnlySpan<byte> data) => _state = Update(_state, data, Best);

    /// <summary>The checksum of everything appended so far.</summary>
    public uint Value => ~_state;

    /// <summary>The checksum as GCS and S3 report it: four big-endian bytes, base64.</summary>
    public string ToBase64() => ToBase64(Value);

    /// <summary><paramref name="value"/> as four big-endian bytes, base64.</summary>
    public static string ToBase64(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return Convert.ToBase64String(bytes);
    }

    /// <summary>The checksum of one buffer.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(uint.MaxValue, data, Best);

    /// <summary>The checksum of one buffer along <paramref name="path"/> (tests compare the paths).</summary>
    internal static uint Compute(ReadOnlySpan<byte> data, Implementation path)
    {
        if (!IsSupported(path)) throw new PlatformNotSupportedException($"This CPU cannot run the {path} CRC-32C path.");
        return ~Update(uint.MaxValue, data, path);
    }

    private static uint Update(uint crc, ReadOnlySpan<byte> data, Implementation path)
    {
        switch (path)
        {
            case Implementation.Sse42:
            {
                ulong c = crc;
                var words = MemoryMarshal.Cast<byte, ulong>(data);
                foreach (var w in words) c = Sse42.X64.Crc32(c, w);
                crc = (uint)c;
                foreach (var b in data[(words.Length * 8)..]) crc = Sse42.Crc32(crc, b);
                return crc;
            }
            case Implementation.Arm64:
            {
                // CRC32CX / CRC32CB: the Castagnoli variants, same reflected polynomial as the table.
                var words = MemoryMarshal.Cast<byte, ulong>(data);
                foreach (var w in words) crc = ArmCrc32.Arm64.ComputeCrc32C(crc, w);
                foreach (var b in data[(words.Length * 8)..]) crc = ArmCrc32.ComputeCrc32C(crc, b);
                return crc;
            }
            default:
                foreach (var b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
                return crc;
        }
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        return table;
    }
}
