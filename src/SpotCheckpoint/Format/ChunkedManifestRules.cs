using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Format;

/// <summary>
/// The structure checks of a version-2 (chunked) manifest, run before anything trusts it: pack names that cannot
/// escape the run's <c>chunks/</c> folder, sane sizes, and chunks that lie inside their packs and add up to their
/// tensor. (Two chunks may share bytes: identical content is stored once.)
/// </summary>
internal static class ChunkedManifestRules
{
    /// <summary>The largest chunk accepted (bytes); the writer uses far smaller ones.</summary>
    public const long MaxChunkBytes = 1L << 30;

    public static void Validate(CheckpointManifest m, string key)
    {
        void Fail(string problem) => throw new CheckpointCorruptException(key, problem);

        if (m.Shards.Count > 0) Fail("a version-2 manifest names shards");
        if (m.Packs is null) Fail("a version-2 manifest lacks 'packs'");
        if (m.ChunkBytes is not (> 0 and <= MaxChunkBytes)) Fail($"the chunk size {m.ChunkBytes} is absurd");
        var packs = m.Packs!;
        var files = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < packs.Count; i++)
        {
            var p = packs[i];
            if (p is null || !StoreKeys.TryParsePackFileName(p.File ?? "", out var writtenAt)) Fail($"pack {i} has an invalid file name");
            if (writtenAt != p!.Step || p.Step > m.Step) Fail($"pack '{p.File}' records step {p.Step}, which does not fit its name or this checkpoint");
            if (p.Bytes < 1 || p.Bytes > ManifestCodec.MaxObjectBytes) Fail($"pack '{p.File}' has an absurd size {p.Bytes}");
            if (!files.Add(p.File!)) Fail("two packs share a file name");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in m.Tensors)
        {
            ManifestCodec.ValidateTensor(t, names, key);
            if (t.Chunks is null) Fail($"tensor '{t.Name}' lists no chunks");
            long total = 0;
            foreach (var c in t.Chunks!)
            {
                if (c is null) Fail($"tensor '{t.Name}' has an empty chunk entry");
                if (c!.Xxh128 is null || c.Xxh128.Length != 32 || !IsLowerHex(c.Xxh128)) Fail($"a chunk of tensor '{t.Name}' lacks a valid checksum");
                if (c.Bytes < 1 || c.Bytes > m.ChunkBytes) Fail($"chunk {c.Xxh128} of tensor '{t.Name}' has an absurd size {c.Bytes}");
                if (c.Pack < 0 || c.Pack >= packs.Count) Fail($"chunk {c.Xxh128} of tensor '{t.Name}' names pack {c.Pack}, which does not exist");
                var pack = packs[c.Pack];
                if (c.Offset < 0 || c.Offset > pack.Bytes - c.Bytes) Fail($"chunk {c.Xxh128} of tensor '{t.Name}' lies outside pack '{pack.File}'");
                total += c.Bytes;
            }
            if (total != t.Bytes) Fail($"the chunks of tensor '{t.Name}' hold {total} bytes, the tensor {t.Bytes}");
        }
    }

    private static bool IsLowerHex(string s)
    {
        foreach (var ch in s) if (ch is not ((>= '0' and <= '9') or (>= 'a' and <= 'f'))) return false;
        return true;
    }
}
