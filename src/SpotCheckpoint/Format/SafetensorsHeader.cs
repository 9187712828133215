using System.Globalization;
using System.Text.Json;

namespace SpotCheckpoint.Format;

/// <summary>
/// Writes the header of a safetensors file: an 8-byte little-endian length, then a JSON object mapping each tensor
/// to its dtype, shape and [begin, end) data offsets (relative to the data section), padded with spaces so the data
/// starts at a multiple of 4096 (see DataAlignment). PyTorch's <c>safetensors</c> package reads these files.
/// </summary>
internal static class SafetensorsHeader
{
    public static byte[] Build(IReadOnlyList<(string Name, string Dtype, long[] Shape, long Begin, long End)> tensors,
        IReadOnlyDictionary<string, string> metadata)
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("__metadata__");
            foreach (var (k, v) in metadata) writer.WriteString(k, v);
            writer.WriteEndObject();
            foreach (var t in tensors)
            {
                writer.WriteStartObject(t.Name);
                writer.WriteString("dtype", t.Dtype);
                writer.WriteStartArray("shape");
                foreach (var d in t.Shape) writer.WriteNumberValue(d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(t.Begin);
                writer.WriteNumberValue(t.End);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        long jsonLength = json.Length;
        // Padded with spaces (as the format allows) to a whole page: the tensor bytes then start page-aligned in the
        // file, as they are in the staging buffers, and the local store writes them straight from there (O_DIRECT).
        long padded = (8 + jsonLength + DataAlignment - 1) / DataAlignment * DataAlignment - 8;
        var header = new byte[8 + padded];
        BitConverter.TryWriteBytes(header.AsSpan(0, 8), (ulong)padded);
        if (!BitConverter.IsLittleEndian) header.AsSpan(0, 8).Reverse();
        json.GetBuffer().AsSpan(0, (int)jsonLength).CopyTo(header.AsSpan(8));
        header.AsSpan(8 + (int)jsonLength).Fill((byte)' ');
        return header;
    }

    /// <summary>Where a shard's tensor data starts: a multiple of the page size.</summary>
    public const int DataAlignment = 4096;

    public static string Hex(ulong value) => value.ToString("x16", CultureInfo.InvariantCulture);
}
