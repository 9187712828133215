using System.Buffers.Binary;
using System.Text.Json;
using SpotCheckpoint.Format;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Format;

/// <summary>A staged snapshot of known bytes, as the capture path would leave it, ready to persist.</summary>
internal sealed class StagedSnapshot : IDisposable
{
    private StagedSnapshot(StagingArena arena, Dictionary<string, byte[]> data)
    {
        Arena = arena;
        Data = data;
    }

    public StagingArena Arena { get; }

    /// <summary>The bytes staged for each tensor.</summary>
    public IReadOnlyDictionary<string, byte[]> Data { get; }

    public static StagedSnapshot Create(IEnumerable<(string Name, string Dtype, long[] Shape)> tensors, long maxShardBytes, int seed)
    {
        var items = tensors.Select(t =>
        {
            if (!TensorDtypes.TryGetElementSize(t.Dtype, out var size)) throw new ArgumentException("unknown dtype " + t.Dtype);
            return (t.Name, t.Dtype, t.Shape, Bytes: t.Shape.Aggregate(1L, (a, d) => a * d) * size);
        }).ToList();
        var layout = StagingLayout.Plan(items, maxShardBytes);
        var arena = new StagingArena(layout, length => new HostBuffer(length));
        var rng = new Random(seed);
        var data = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var t in layout.Tensors)
        {
            var bytes = new byte[t.Bytes];
            rng.NextBytes(bytes);
            bytes.CopyTo(arena.Buffers[t.Shard].Span(t.DataOffset, bytes.Length));
            data[t.Name] = bytes;
        }
        return new StagedSnapshot(arena, data);
    }

    /// <summary>A small model-like snapshot: several dtypes, a scalar and an empty tensor.</summary>
    public static StagedSnapshot CreateTypical(long maxShardBytes, int seed) => Create(
    [
        ("model/fc1.weight", "F32", [3, 5]),
        ("model/fc1.bias", "F32", [5]),
        ("model/emb.weight", "BF16", [7, 3]),
        ("model/mask", "BOOL", [3]),
        ("model/empty", "F16", [0, 4]),
        ("optimizer/exp_avg/model/fc1.weight", "F64", [3, 5]),
        ("optimizer/step", "I64", []),
        ("rng/cpu", "U8", [33]),
    ], maxShardBytes, seed);

    public async Task<CheckpointManifest> PersistAsync(ICheckpointStore store, string runId, long step)
    {
        var manifest = new CheckpointManifest { RunId = runId, Step = step, CreatedUtc = DateTimeOffset.UtcNow };
        await SpotCheckpoint.Commit.CheckpointCommitter.PersistAsync(store, manifest, Arena, CancellationToken.None);
        return manifest;
    }

    public void Dispose() => Arena.Dispose();
}

/// <summary>
/// An independent reader of safetensors files, written from the format description (not from this library's code):
/// u64 little-endian header length N, N bytes of JSON, then the data section. Asserts what other readers
/// (the Rust and Python safetensors packages) check before they accept a file.
/// </summary>
internal static class SafetensorsFile
{
    public sealed record Entry(string Dtype, long[] Shape, long Begin, long End);

    public sealed record Parsed(long DataStart, Dictionary<string, string> Metadata, Dictionary<string, Entry> Tensors);

    private static readonly Dictionary<string, int> DtypeSizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4, ["I64"] = 8, ["U64"] = 8, ["F64"] = 8, ["C64"] = 8,
    };

    public static Parsed Parse(byte[] file)
    {
        Assert.That(file, Has.Length.GreaterThanOrEqualTo(8), "a safetensors file starts with an 8-byte length");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.That(n, Is.LessThanOrEqualTo(100UL * 1024 * 1024), "readers refuse headers over 100 MB");
        Assert.That(8 + (long)n, Is.LessThanOrEqualTo(file.Length), "the header runs past the end of the file");
        long dataStart = 8 + (long)n;
        Assert.That(dataStart % 8, Is.Zero, "the data section should start 8-byte aligned");
        var headerBytes = file.AsSpan(8, (int)n);
        Assert.That(headerBytes[0], Is.EqualTo((byte)'{'), "the header must start with '{'");

        // Padding after the JSON object may only be spaces.
        int jsonEnd = headerBytes.LastIndexOf((byte)'}') + 1;
        Assert.That(headerBytes[jsonEnd..].ToArray(), Has.All.EqualTo((byte)' '), "header padding must be spaces");

        using var doc = JsonDocument.Parse(headerBytes.ToArray());
        Assert.That(doc.RootElement.ValueKind, Is.EqualTo(JsonValueKind.Object));
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var tensors = new Dictionary<string, Entry>(StringComparer.Ordinal);
        bool sawMetadata = false;
        foreach (var property in doc.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__")
            {
                sawMetadata = true;
                Assert.That(property.Value.ValueKind, Is.EqualTo(JsonValueKind.Object));
                foreach (var m in property.Value.EnumerateObject())
                {
                    Assert.That(m.Value.ValueKind, Is.EqualTo(JsonValueKind.String), "metadata values must be strings");
                    metadata[m.Name] = m.Value.GetString()!;
                }
                continue;
            }
            var v = property.Value;
            Assert.That(v.ValueKind, Is.EqualTo(JsonValueKind.Object), property.Name);
            var dtype = v.GetProperty("dtype").GetString()!;
            var shape = v.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offsets = v.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            Assert.That(offsets, Has.Length.EqualTo(2), property.Name);
            Assert.That(DtypeSizes.ContainsKey(dtype), Is.True, $"{property.Name}: unknown dtype {dtype}");
            Assert.That(v.EnumerateObject().Select(p => p.Name), Is.EquivalentTo(new[] { "dtype", "shape", "data_offsets" }), property.Name);
            Assert.That(tensors.ContainsKey(property.Name), Is.False, $"{property.Name} appears twice");
            tensors[property.Name] = new Entry(dtype, shape, offsets[0], offsets[1]);
        }
        Assert.That(sawMetadata, Is.True, "__metadata__ is missing");

        // What safetensors validates: each entry's length matches shape x dtype, and the entries, sorted by offset,
        // tile the data section exactly (no gaps, no overlaps, nothing left over).
        long expected = 0;
        foreach (var (name, e) in tensors.OrderBy(t => t.Value.Begin).ThenBy(t => t.Value.End))
        {
            Assert.That(e.Begin, Is.EqualTo(expected), $"{name}: gap or overlap before it");
            Assert.That(e.End - e.Begin, Is.EqualTo(e.Shape.Aggregate(1L, (a, d) => a * d) * DtypeSizes[e.Dtype]), $"{name}: length does not match shape x dtype");
            expected = e.End;
        }
        Assert.That(dataStart + expected, Is.EqualTo(file.Length), "the data section must end exactly at the last tensor");
        return new Parsed(dataStart, metadata, tensors);
    }
}

public class SafetensorsFormatTests
{
    private const string RunId = "fmt-run";

    private static string StepDirectory(LocalFileStore store, long step) =>
        Path.Combine(store.Root, RunId, $"step-{step:D8}");

    private static string ShardPath(LocalFileStore store, CheckpointReader reader, int shard) =>
        Path.Combine(store.Root, reader.ShardKey(shard).Replace('/', Path.DirectorySeparatorChar));

    [Test]
    public void Built_headers_are_valid_safetensors_headers_for_every_padding_length()
    {
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "quote \" and ünïcode" };
        for (int nameLength = 1; nameLength <= 16; nameLength++)
        {
            var name = new string('n', nameLength);
            var header = SafetensorsHeader.Build(
            [
                (name, "F32", [2, 3], 0, 24),
                ("second/ünïcode \"name\"", "BF16", [5_000_000_000L], 24, 10_000_000_024L),
                ("scalar", "I64", [], 10_000_000_024L, 10_000_000_032L),
            ], metadata);

            Assert.That(header.Length % SafetensorsHeader.DataAlignment, Is.Zero, $"name length {nameLength}: data must start page-aligned (and so at a multiple of 8)");
            Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(header), Is.EqualTo((ulong)(header.Length - 8)),
                "the length prefix must cover the JSON and its padding");
            Assert.That(header[8], Is.EqualTo((byte)'{'));

            using var doc = JsonDocument.Parse(header.AsMemory(8));
            var root = doc.RootElement;
            Assert.That(root.EnumerateObject().Select(p => p.Name),
                Is.EquivalentTo(new[] { "__metadata__", name, "second/ünïcode \"name\"", "scalar" }));
            Assert.That(root.GetProperty("__metadata__").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()),
                Is.EquivalentTo(metadata));

            var first = root.GetProperty(name);
            Assert.That(first.GetProperty("dtype").GetString(), Is.EqualTo("F32"));
            Assert.That(first.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()), Is.EqualTo(new long[] { 2, 3 }));
            Assert.That(first.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()), Is.EqualTo(new long[] { 0, 24 }));
            var second = root.GetProperty("second/ünïcode \"name\"");
            Assert.That(second.GetProperty("dtype").GetString(), Is.EqualTo("BF16"));
            Assert.That(second.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()), Is.EqualTo(new[] { 5_000_000_000L }));
            Assert.That(second.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()), Is.EqualTo(new[] { 24L, 10_000_000_024L }));
            var scalar = root.GetProperty("scalar");
            Assert.That(scalar.GetProperty("shape").GetArrayLength(), Is.Zero);
            Assert.That(scalar.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()), Is.EqualTo(new[] { 10_000_000_024L, 10_000_000_032L }));

            int jsonEnd = Array.LastIndexOf(header, (byte)'}') + 1;
            Assert.That(header[jsonEnd..], Has.All.EqualTo((byte)' '), "padding must be spaces");
            Assert.That(header.Length - jsonEnd, Is.LessThan(SafetensorsHeader.DataAlignment), "padding should be no more than reaches the next page");
        }
    }

    [Test]
    public void A_header_without_tensors_is_still_valid()
    {
        var header = SafetensorsHeader.Build([], new Dictionary<string, string>());
        Assert.That(header.Length % 8, Is.Zero);
        var file = header; // a file of no tensors is just its header
        var parsed = SafetensorsFile.Parse(file);
        Assert.That(parsed.Tensors, Is.Empty);
        Assert.That(parsed.Metadata, Is.Empty);
    }

    [TestCase(1 << 20, TestName = "Persisted shards parse independently (one shard)")]
    [TestCase(64, TestName = "Persisted shards parse independently (many shards)")]
    public async Task Persisted_shards_are_valid_safetensors_files_holding_the_staged_bytes(long maxShardBytes)
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using var snapshot = StagedSnapshot.CreateTypical(maxShardBytes, seed: 7);
        await snapshot.PersistAsync(store, RunId, 12);

        // Find the shard files by looking at the folder, not by trusting the manifest.
        var files = Directory.GetFiles(StepDirectory(store, 12), "*.safetensors");
        Assert.That(files, Has.Length.EqualTo(snapshot.Arena.Layout.ShardDataBytes.Length));
        if (maxShardBytes == 64) Assert.That(files, Has.Length.GreaterThan(1));

        var seen = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var path in files)
        {
            var bytes = await File.ReadAllBytesAsync(path);
            var parsed = SafetensorsFile.Parse(bytes);
            Assert.That(parsed.Metadata["format"], Is.EqualTo("pt"), "transformers and safe_open(framework='pt') expect format=pt");
            foreach (var (name, entry) in parsed.Tensors)
            {
                var staged = snapshot.Arena.Layout.Tensors.Single(t => t.Name == name);
                Assert.That(entry.Dtype, Is.EqualTo(staged.Dtype), name);
                Assert.That(entry.Shape, Is.EqualTo(staged.Shape), name);
                seen.Add(name, bytes.AsSpan((int)(parsed.DataStart + entry.Begin), (int)(entry.End - entry.Begin)).ToArray());
            }
        }

        Assert.That(seen.Keys, Is.EquivalentTo(snapshot.Data.Keys), "every staged tensor is in exactly one shard");
        foreach (var (name, staged) in snapshot.Data)
            Assert.That(seen[name], Is.EqualTo(staged), $"bytes of {name}");
    }

    [Test]
    public async Task The_manifest_describes_the_shards_as_written()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using var snapshot = StagedSnapshot.CreateTypical(64, seed: 3);
        var manifest = await snapshot.PersistAsync(store, RunId, 5);

        var reader = await CheckpointReader.OpenAsync(store, RunId, 5);
        Assert.That(reader.Manifest.Tensors.Select(t => t.Name), Is.EquivalentTo(snapshot.Data.Keys));
        for (int i = 0; i < reader.Manifest.Shards.Count; i++)
        {
            var bytes = await File.ReadAllBytesAsync(ShardPath(store, reader, i));
            var parsed = SafetensorsFile.Parse(bytes);
            Assert.That(reader.Manifest.Shards[i].Bytes, Is.EqualTo(bytes.Length));
            Assert.That(reader.Manifest.Shards[i].DataOffset, Is.EqualTo(parsed.DataStart));
            Assert.That(parsed.Metadata["spotcheckpoint.run"], Is.EqualTo(RunId));
            Assert.That(parsed.Metadata["spotcheckpoint.step"], Is.EqualTo("5"));
            foreach (var t in reader.Manifest.Tensors.Where(t => t.Shard == i))
            {
                var entry = parsed.Tensors[t.Name];
                Assert.That(t.Offset, Is.EqualTo(parsed.DataStart + entry.Begin), t.Name);
                Assert.That(t.Bytes, Is.EqualTo(entry.End - entry.Begin), t.Name);
                Assert.That(t.Dtype, Is.EqualTo(entry.Dtype), t.Name);
                Assert.That(t.Shape, Is.EqualTo(entry.Shape), t.Name);
            }
        }
        Assert.That(manifest.Shards.Select(s => s.File), Is.EqualTo(reader.Manifest.Shards.Select(s => s.File)));
    }

    [Test]
    public async Task A_persisted_checkpoint_opens_verifies_and_reads_back_the_staged_bytes()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using var snapshot = StagedSnapshot.CreateTypical(64, seed: 11);
        await snapshot.PersistAsync(store, RunId, 9);

        var reader = await CheckpointReader.OpenAsync(store, RunId, 9);
        Assert.That(reader.Step, Is.EqualTo(9));
        Assert.That(reader.RunId, Is.EqualTo(RunId));
        Assert.That(async () => await reader.VerifyFramesAsync(), Throws.Nothing);
        Assert.That(async () => await reader.VerifyAllAsync(), Throws.Nothing);
        foreach (var t in reader.Manifest.Tensors)
            Assert.That(await reader.ReadTensorBytesAsync(t), Is.EqualTo(snapshot.Data[t.Name]), t.Name);
    }

    [Test]
    public async Task Only_the_manifest_commits_a_checkpoint_and_it_is_written_last()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using var snapshot = StagedSnapshot.CreateTypical(64, seed: 1);
        await snapshot.PersistAsync(store, RunId, 4);
        Assert.That(async () => await snapshot.PersistAsync(store, RunId, 4), Throws.TypeOf<CheckpointConflictException>(),
            "a second writer of the same step must lose");

        // The loser removed its shards; the winner's checkpoint is intact.
        var reader = await CheckpointReader.OpenAsync(store, RunId, 4);
        var names = Directory.GetFiles(StepDirectory(store, 4)).Select(Path.GetFileName).ToList();
        Assert.That(names, Is.EquivalentTo(reader.Manifest.Shards.Select(s => s.File).Append(StoreKeys.ManifestFileName)));
        Assert.That(async () => await reader.VerifyAllAsync(), Throws.Nothing);
    }

    [Test]
    public async Task Flipping_one_data_byte_makes_VerifyAll_name_the_tensor()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using var snapshot = StagedSnapshot.CreateTypical(1 << 20, seed: 5);
        await snapshot.PersistAsync(store, RunId, 3);
        var reader = await CheckpointReader.OpenAsync(store, RunId, 3);

        foreach (var victim in reader.Manifest.Tensors.Where(t => t.Bytes > 0))
        {
            var path = ShardPath(store, reader, victim.Shard);
            var original = await File.ReadAllBytesAsync(path);
            var damaged = (byte[])original.Clone();
            damaged[victim.Offset + victim.Bytes / 2] ^= 0x10;
            await File.WriteAllBytesAsync(path, damaged);

            var ex = Assert.ThrowsAsync<CheckpointCorruptException>(async () => await reader.VerifyAllAsync());
            Assert.That(ex!.Problem, Does.Contain($"'{victim.Name}'"));
            Assert.That(ex.ObjectName, Is.EqualTo(reader.ShardKey(victim.Shard)));
            Assert.That(async () => await reader.ReadTensorBytesAsync(victim), Throws.TypeOf<CheckpointCorruptException>()
                .With.Message.Contain($"'{victim.Name}'"));

            await File.WriteAllBytesAsync(path, original);
        }
        Assert.That(async () => await reader.VerifyAllAsync(), Throws.Nothing, "restored file verifies again");
    }

    [Test]
    public async Task Flipping_one_header_byte_makes_VerifyFrames_throw()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using var snapshot = StagedSnapshot.CreateTypical(1 << 20, seed: 5);
        await snapshot.PersistAsync(store, RunId, 3);
        var reader = await CheckpointReader.OpenAsync(store, RunId, 3);
        var path = ShardPath(store, reader, 0);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[20] ^= 0x01;
        await File.WriteAllBytesAsync(path, bytes);

        var ex = Assert.ThrowsAsync<CheckpointCorruptException>(async () => await reader.VerifyFramesAsync());
        Assert.That(ex!.Problem, Does.Contain("header"));
        Assert.That(async () => await reader.VerifyAllAsync(), Throws.TypeOf<CheckpointCorruptException>());
    }

    [TestCase(1)]
    [TestCase(100)]
    public async Task Truncating_a_shard_makes_VerifyFrames_throw(int cut)
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using var snapshot = StagedSnapshot.CreateTypical(1 << 20, seed: 5);
        await snapshot.PersistAsync(store, RunId, 3);
        var reader = await CheckpointReader.OpenAsync(store, RunId, 3);
        var path = ShardPath(store, reader, 0);
        await using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write))
            stream.SetLength(stream.Length - cut);

        var ex = Assert.ThrowsAsync<CheckpointCorruptException>(async () => await reader.VerifyFramesAsync());
        Assert.That(ex!.ObjectName, Is.EqualTo(reader.ShardKey(0)));
        Assert.That(ex.Problem, Does.Contain("bytes"));
        Assert.That(async () => await reader.VerifyAllAsync(), Throws.TypeOf<CheckpointCorruptException>());
    }

    [Test]
    public async Task A_missing_shard_makes_VerifyFrames_throw()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using var snapshot = StagedSnapshot.CreateTypical(64, seed: 5);
        await snapshot.PersistAsync(store, RunId, 3);
        var reader = await CheckpointReader.OpenAsync(store, RunId, 3);
        File.Delete(ShardPath(store, reader, 1));

        var ex = Assert.ThrowsAsync<CheckpointCorruptException>(async () => await reader.VerifyFramesAsync());
        Assert.That(ex!.ObjectName, Is.EqualTo(reader.ShardKey(1)));
        Assert.That(ex.Problem, Does.Contain("missing"));
    }

    [Test]
    public void Opening_a_step_without_a_manifest_is_corrupt()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        var ex = Assert.ThrowsAsync<CheckpointCorruptException>(async () => await CheckpointReader.OpenAsync(store, RunId, 1));
        Assert.That(ex!.Problem, Does.Contain("missing"));
    }

    [Test]
    public void Tensors_larger_than_the_shard_limit_get_a_shard_of_their_own()
    {
        var layout = StagingLayout.Plan(
        [
            ("a", "U8", [16], 16),
            ("big", "U8", [100], 100),
            ("b", "U8", [16], 16),
            ("c", "U8", [40], 40),
            ("d", "U8", [16], 16),
            ("huge", "U8", [1000], 1000),
        ], maxShardBytes: 64);

        var byName = layout.Tensors.ToDictionary(t => t.Name);
        foreach (var big in new[] { "big", "huge" })
        {
            var shard = byName[big].Shard;
            Assert.That(layout.Tensors.Where(t => t.Shard == shard).Select(t => t.Name), Is.EqualTo(new[] { big }), $"{big} shares its shard");
            Assert.That(layout.ShardDataBytes[shard], Is.EqualTo(byName[big].Bytes));
            Assert.That(byName[big].DataOffset, Is.Zero);
        }
        // Other shards stay within the limit, tensors keep capture order, and offsets are packed.
        for (int s = 0; s < layout.ShardDataBytes.Length; s++)
        {
            var members = layout.Tensors.Where(t => t.Shard == s).ToList();
            Assert.That(members, Is.Not.Empty, $"shard {s} is empty");
            if (members.Count > 1) Assert.That(layout.ShardDataBytes[s], Is.LessThanOrEqualTo(64));
            long offset = 0;
            foreach (var t in members)
            {
                Assert.That(t.DataOffset, Is.EqualTo(offset), t.Name);
                offset += t.Bytes;
            }
            Assert.That(layout.ShardDataBytes[s], Is.EqualTo(offset));
        }
        Assert.That(layout.Tensors.Select(t => t.Shard), Is.Ordered, "capture order is kept");
        Assert.That(byName["b"].Shard, Is.EqualTo(byName["c"].Shard), "small tensors are packed together up to the limit");
        Assert.That(layout.TotalBytes, Is.EqualTo(16 + 100 + 16 + 40 + 16 + 1000));
    }

    [Test]
    public async Task A_tensor_larger_than_the_shard_limit_is_persisted_alone_in_its_shard_file()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using var snapshot = StagedSnapshot.Create(
        [
            ("small1", "F32", [4]),
            ("large", "F32", [64]),
            ("small2", "F32", [4]),
        ], maxShardBytes: 64, seed: 2);
        await snapshot.PersistAsync(store, RunId, 1);

        var reader = await CheckpointReader.OpenAsync(store, RunId, 1);
        var largeShard = reader.Manifest.Tensors.Single(t => t.Name == "large").Shard;
        var parsed = SafetensorsFile.Parse(await File.ReadAllBytesAsync(ShardPath(store, reader, largeShard)));
        Assert.That(parsed.Tensors.Keys, Is.EqualTo(new[] { "large" }));
        Assert.That(reader.Manifest.Shards, Has.Count.EqualTo(3));
        Assert.That(async () => await reader.VerifyAllAsync(), Throws.Nothing);
    }

    [Test]
    public async Task A_persist_that_fails_midway_leaves_no_shards_behind()
    {
        using var dir = new TempDirectory();
        var inner = new LocalFileStore(dir.Path);
        var store = new FailingStore(inner, failOnOpenWrite: 3);
        using var snapshot = StagedSnapshot.CreateTypical(64, seed: 1);
        var manifest = new CheckpointManifest { RunId = RunId, Step = 2 };
        Assert.That(async () => await SpotCheckpoint.Commit.CheckpointCommitter.PersistAsync(store, manifest, snapshot.Arena, CancellationToken.None),
            Throws.TypeOf<IOException>());
        Assert.That(Directory.EnumerateFiles(dir.Path, "*", SearchOption.AllDirectories), Is.Empty);
        Assert.That(await CheckpointCatalog.ListAsync(inner, RunId), Is.Empty);
    }

    [Test]
    public async Task A_persist_whose_commit_fails_leaves_no_shards_behind()
    {
        using var dir = new TempDirectory();
        var inner = new LocalFileStore(dir.Path);
        var store = new FailingStore(inner, failOnOpenWrite: int.MaxValue, failCommit: true);
        using var snapshot = StagedSnapshot.CreateTypical(64, seed: 1);
        var manifest = new CheckpointManifest { RunId = RunId, Step = 2 };
        Assert.That(async () => await SpotCheckpoint.Commit.CheckpointCommitter.PersistAsync(store, manifest, snapshot.Arena, CancellationToken.None),
            Throws.TypeOf<IOException>());
        Assert.That(store.OpenWrites, Is.GreaterThan(1), "shards were written before the commit failed");
        Assert.That(Directory.EnumerateFiles(dir.Path, "*", SearchOption.AllDirectories), Is.Empty);
    }

    /// <summary>Passes everything to a real store but fails the n-th streaming write or the manifest commit.</summary>
    private sealed class FailingStore(ICheckpointStore inner, int failOnOpenWrite, bool failCommit = false) : ICheckpointStore
    {
        public int OpenWrites { get; private set; }

        public string Description => inner.Description;

        public ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default)
        {
            if (++OpenWrites == failOnOpenWrite) throw new IOException("injected write failure");
            return inner.OpenWriteAsync(key, cancellationToken);
        }

        public ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) =>
            failCommit ? throw new IOException("injected commit failure") : inner.CreateExclusiveAsync(key, content, cancellationToken);

        public ValueTask<int> ReadAsync(string key, long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
            inner.ReadAsync(key, offset, destination, cancellationToken);

        public ValueTask<long?> GetLengthAsync(string key, CancellationToken cancellationToken = default) => inner.GetLengthAsync(key, cancellationToken);

        public IAsyncEnumerable<StoredObject> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

        public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, cancellationToken);

        public ValueTask<int> CleanupIncompleteAsync(string prefix, TimeSpan olderThan, CancellationToken cancellationToken = default) =>
            inner.CleanupIncompleteAsync(prefix, olderThan, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
