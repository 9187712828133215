using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace SpotCheckpoint.Storage;

/// <summary>
/// CRC-32C (Castagnoli), the checksum Google Cloud Storage keeps for every object. Uses the SSE4.2 instruction
/// where the CPU has it and a table otherwise. Incremental: <see cref="Append"/> any number of times.
/// </summary>
internal sealed class Crc32C
{
    private static readonly uint[] Table = BuildTable();
    private uint _state = uint.MaxValue;

    /// <summary>Adds bytes to the checksum.</summary>
    public void Append(ReadOnlySpan<byte> data) => _state = Update(_state, data);

    /// <summary>The checksum of everything appended so far.</summary>
    public uint Value => ~_state;

    /// <summary>The checksum as GCS reports it: four big-endian bytes, base64.</summary>
    public string ToBase64()
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, Value);
        return Convert.ToBase64String(bytes);
    }

    /// <summary>The checksum of one buffer.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(uint.MaxValue, data);

    private static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        if (Sse42.X64.IsSupported)
        {
            ulong c = crc;
            var words = MemoryMarshal.Cast<byte, ulong>(data);
            foreach (var w in words) c = Sse42.X64.Crc32(c, w);
            crc = (uint)c;
            data = data[(words.Length * 8)..];
            foreach (var b in data) crc = Sse42.Crc32(crc, b);
            return crc;
        }
        foreach (var b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
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
