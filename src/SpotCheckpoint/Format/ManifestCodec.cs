using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SpotCheckpoint.Format;

/// <summary>
/// Encodes a manifest with its own checksum, <c>{"manifestSha256": "...", "manifest": {...}}</c>, where the hash
/// covers the exact bytes of the <c>manifest</c> value, and decodes it again with every check a hostile or damaged
/// file needs before anything trusts it.
/// </summary>
public static partial class ManifestCodec
{
    /// <summary>The largest manifest accepted (bytes).</summary>
    public const int MaxManifestBytes = 64 * 1024 * 1024;

    /// <summary>The largest tensor or shard accepted (bytes).</summary>
    public const long MaxObjectBytes = 1L << 50;

    /// <summary>Serializes <paramref name="manifest"/> with its checksum.</summary>
    public static byte[] Encode(CheckpointManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var body = JsonSerializer.SerializeToUtf8Bytes(manifest, ManifestJsonContext.Default.CheckpointManifest);
        var hash = Convert.ToHexString(SHA256.HashData(body)).ToLowerInvariant();
        using var buffer = new MemoryStream(body.Length + 128);
        buffer.Write("{\"manifestSha256\":\""u8);
        buffer.Write(System.Text.Encoding.ASCII.GetBytes(hash));
        buffer.Write("\",\"manifest\":"u8);
        buffer.Write(body);
        buffer.Write("}\n"u8);
        return buffer.ToArray();
    }

    /// <summary>
    /// Parses and verifies a manifest read from <paramref name="key"/>. Throws <see cref="CheckpointCorruptException"/>
    /// naming the problem when the checksum fails, the schema is unknown, or the content is inconsistent.
    /// </summary>
    public static CheckpointManifest Decode(ReadOnlySpan<byte> content, string key, string expectedRunId, long expectedStep)
    {
        if (content.Length == 0) throw new CheckpointCorruptException(key, "the manifest is empty");
        if (content.Length > MaxManifestBytes) throw new CheckpointCorruptException(key, "the manifest is larger than 64 MiB");

        string? storedHash = null;
        ReadOnlySpan<byte> body = default;
        try
        {
            var reader = new Utf8JsonReader(content, new JsonReaderOptions { MaxDepth = 16 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new CheckpointCorruptException(key, "the manifest is not a JSON object");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("manifestSha256"u8))
                {
                    reader.Read();
                    storedHash = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.ValueTextEquals("manifest"u8))
                {
                    reader.Read();
                    long start = reader.TokenStartIndex;
                    reader.Skip();
                    body = content.Slice((int)start, (int)(reader.BytesConsumed - start));
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException or System.Text.DecoderFallbackException)
        {
            throw new CheckpointCorruptException(key, "the manifest is not valid JSON", ex);
        }

        if (storedHash is null || body.IsEmpty)
            throw new CheckpointCorruptException(key, "the manifest lacks 'manifestSha256' or 'manifest'");
        var actual = Convert.ToHexString(SHA256.HashData(body)).ToLowerInvariant();
        if (!string.Equals(actual, storedHash, StringComparison.Ordinal))
            throw new CheckpointCorruptException(key, "the manifest checksum does not match its content");

        CheckpointManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(body, ManifestJsonContext.Default.CheckpointManifest);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException or NotSupportedException)
        {
            throw new CheckpointCorruptException(key, "the manifest does not follow the schema: " + ex.Message, ex);
        }
        if (manifest is null) throw new CheckpointCorruptException(key, "the manifest is null");
        Validate(manifest, key, expectedRunId, expectedStep);
        return manifest;
    }

    private static void Validate(CheckpointManifest m, string key, string expectedRunId, long expectedStep)
    {
        void Fail(string problem) => throw new CheckpointCorruptException(key, problem);

        if (m.Format != "spotcheckpoint") Fail($"unknown format '{m.Format}'");
        if (m.SchemaVersion is not (CheckpointManifest.ShardedSchemaVersion or CheckpointManifest.ChunkedSchemaVersion))
            Fail($"schema version {m.SchemaVersion} is not supported by this library (it reads versions {CheckpointManifest.ShardedSchemaVersion} and {CheckpointManifest.ChunkedSchemaVersion})");
        if (m.RunId != expectedRunId) Fail($"it belongs to run '{m.RunId}', not '{expectedRunId}'");
        if (m.Step != expectedStep) Fail($"it records step {m.Step} but is stored as step {expectedStep}");
        m.Shards ??= new(); m.Tensors ??= new(); m.Modules ??= new(); m.Optimizers ??= new();
        m.Schedulers ??= new(); m.UserState ??= new(); m.Writer ??= new();
        if (m.IsChunked)
        {
            ChunkedManifestRules.Validate(m, key);
            return;
        }
        if (m.Packs is not null || m.ChunkBytes is not null) Fail("a version-1 manifest names chunk packs");

        for (int i = 0; i < m.Shards.Count; i++)
        {
            var s = m.Shards[i];
            if (s is null || !ShardNamePattern().IsMatch(s.File ?? "")) Fail($"shard {i} has an invalid file name");
            if (s!.Bytes < 8 || s.Bytes > MaxObjectBytes) Fail($"shard '{s.File}' has an absurd size {s.Bytes}");
            if (s.DataOffset < 8 || s.DataOffset > s.Bytes || s.DataOffset > 100 * 1024 * 1024)
                Fail($"shard '{s.File}' has an invalid data offset {s.DataOffset}");
            if (s.HeaderXxh3 is null || s.HeaderXxh3.Length != 16) Fail($"shard '{s.File}' lacks a header checksum");
        }
        if (m.Shards.Select(s => s.File).Distinct(StringComparer.Ordinal).Count() != m.Shards.Count) Fail("two shards share a file name");

        var names = new HashSet<string>(StringComparer.Ordinal);
        var perShard = new List<(long Start, long End, string Name)>[m.Shards.Count];
        for (int i = 0; i < perShard.Length; i++) perShard[i] = new();
        foreach (var t in m.Tensors)
        {
            ValidateTensor(t, names, key);
            if (t.Chunks is not null) Fail($"tensor '{t.Name}' lists chunks in a version-1 manifest");
            if (t.Shard < 0 || t.Shard >= m.Shards.Count) Fail($"tensor '{t.Name}' names shard {t.Shard}, which does not exist");
            var shard = m.Shards[t.Shard];
            if (t.Offset < shard.DataOffset || t.Bytes > shard.Bytes || t.Offset > shard.Bytes - t.Bytes)
                Fail($"tensor '{t.Name}' lies outside shard '{shard.File}'");
            if (t.Xxh3 is null || t.Xxh3.Length != 16) Fail($"tensor '{t.Name}' lacks a checksum");
            perShard[t.Shard].Add((t.Offset, t.Offset + t.Bytes, t.Name));
        }
        for (int i = 0; i < perShard.Length; i++)
        {
            var ranges = perShard[i];
            ranges.Sort((a, b) => a.Start.CompareTo(b.Start));
            for (int r = 1; r < ranges.Count; r++)
            {
                if (ranges[r].Start < ranges[r - 1].End) Fail($"tensors '{ranges[r - 1].Name}' and '{ranges[r].Name}' overlap");
            }
        }
    }

    /// <summary>The checks every tensor entry passes in either version: a unique name, a known dtype, a sane shape that matches its size.</summary>
    internal static void ValidateTensor(TensorEntry? t, HashSet<string> names, string key)
    {
        void Fail(string problem) => throw new CheckpointCorruptException(key, problem);

        if (t is null || string.IsNullOrEmpty(t.Name) || t.Name.Length > 1024) Fail("a tensor has no valid name");
        if (!names.Add(t!.Name)) Fail($"tensor '{t.Name}' appears twice");
        if (!TensorDtypes.TryGetElementSize(t.Dtype ?? "", out var elementSize)) Fail($"tensor '{t.Name}' has unknown dtype '{t.Dtype}'");
        if (t.Shape is null || t.Shape.Length > 32) Fail($"tensor '{t.Name}' has an invalid shape");
        long elements = 1;
        foreach (var d in t.Shape!)
        {
            if (d < 0 || d > MaxObjectBytes) Fail($"tensor '{t.Name}' has an invalid dimension {d}");
            try { elements = checked(elements * d); }
            catch (OverflowException) { Fail($"tensor '{t.Name}' has an absurd shape"); }
        }
        long expectedBytes = 0;
        try { expectedBytes = checked(elements * elementSize); }
        catch (OverflowException) { Fail($"tensor '{t.Name}' has an absurd shape"); }
        if (t.Bytes != expectedBytes) Fail($"tensor '{t.Name}' records {t.Bytes} bytes but its shape and dtype need {expectedBytes}");
    }

    [GeneratedRegex("^shard-[0-9]{5}\\.[0-9a-f]{8}\\.safetensors\\z", RegexOptions.CultureInvariant)]
    private static partial Regex ShardNamePattern();
}
