using SpotCheckpoint.Format;

namespace SpotCheckpoint.Tests.Format;

/// <summary>Version-2 manifests: what a damaged or hostile one is refused for before anything trusts it.</summary>
public class ChunkedManifestTests
{
    private const string RunId = "demo-run";
    private const long Step = 20;
    private const string Key = "demo-run/step-00000020/manifest.json";
    private static readonly string Hash = new('a', 32);

    private static CheckpointManifest Valid() => new()
    {
        SchemaVersion = CheckpointManifest.ChunkedSchemaVersion,
        RunId = RunId,
        Step = Step,
        ChunkBytes = 4 << 20,
        Packs = [new PackEntry { File = "00000010-0a1b2c3d-00000.bin", Bytes = 64, Step = 10 }, new PackEntry { File = "00000020-0a1b2c3d-00000.bin", Bytes = 32, Step = 20 }],
        Tensors =
        [
            new TensorEntry { Name = "model/w", Dtype = "F32", Shape = [16], Bytes = 64, Chunks = [new ChunkEntry { Xxh128 = Hash, Bytes = 64, Pack = 0, Offset = 0 }] },
            new TensorEntry { Name = "model/b", Dtype = "F32", Shape = [8], Bytes = 32, Chunks = [new ChunkEntry { Xxh128 = new string('b', 32), Bytes = 32, Pack = 1, Offset = 0 }] },
        ],
    };

    private static CheckpointCorruptException Fails(CheckpointManifest m) =>
        Assert.Throws<CheckpointCorruptException>(() => ManifestCodec.Decode(ManifestCodec.Encode(m), Key, RunId, Step))!;

    [Test]
    public void A_valid_version_2_manifest_round_trips_with_its_chunks()
    {
        var decoded = ManifestCodec.Decode(ManifestCodec.Encode(Valid()), Key, RunId, Step);
        Assert.That(decoded.IsChunked, Is.True);
        Assert.That(decoded.Packs!.Select(p => (p.File, p.Bytes, p.Step)), Is.EqualTo(Valid().Packs!.Select(p => (p.File, p.Bytes, p.Step))));
        Assert.That(decoded.Tensors[0].Chunks!.Single().Xxh128, Is.EqualTo(Hash));
    }

    private static IEnumerable<TestCaseData> Hostile()
    {
        TestCaseData Case(string name, string problem, Action<CheckpointManifest> damage) => new TestCaseData(damage, problem).SetName($"Refused: {name}");
        yield return Case("pack name escaping the chunks folder", "invalid file name", m => m.Packs![0].File = "../step-00000010/manifest.json");
        yield return Case("pack of a later step", "does not fit", m => { m.Packs![1].File = "00000030-0a1b2c3d-00000.bin"; m.Packs[1].Step = 30; });
        yield return Case("pack step not matching its name", "does not fit", m => m.Packs![0].Step = 11);
        yield return Case("chunk outside its pack", "outside pack", m => m.Tensors[0].Chunks![0].Offset = 8);
        yield return Case("chunk naming a missing pack", "which does not exist", m => m.Tensors[0].Chunks![0].Pack = 7);
        yield return Case("chunks not adding up to the tensor", "hold 64 bytes, the tensor 128", m => { m.Tensors[0].Shape = [32]; m.Tensors[0].Bytes = 128; });
        yield return Case("chunk without a valid hash", "valid checksum", m => m.Tensors[1].Chunks![0].Xxh128 = "XYZ");
        yield return Case("tensor without chunks", "lists no chunks", m => m.Tensors[1].Chunks = null);
        yield return Case("absurd chunk size", "chunk size", m => m.ChunkBytes = 0);
        yield return Case("shards in version 2", "names shards", m => m.Shards.Add(new ShardEntry { File = "shard-00000.0a1b2c3d.safetensors", Bytes = 100, DataOffset = 8, HeaderXxh3 = new string('0', 16) }));
        yield return Case("two packs with one name", "share a file name", m => { m.Packs![1].File = m.Packs[0].File; m.Packs[1].Step = 10; });
    }

    [TestCaseSource(nameof(Hostile))]
    public void A_damaged_version_2_manifest_is_corrupt_and_says_why(Action<CheckpointManifest> damage, string problem)
    {
        var m = Valid();
        damage(m);
        Assert.That(Fails(m).Problem, Does.Contain(problem));
    }

    [Test]
    public void A_version_1_manifest_may_not_name_packs()
    {
        var m = Valid();
        m.SchemaVersion = CheckpointManifest.ShardedSchemaVersion;
        m.Tensors.Clear();
        Assert.That(Fails(m).Problem, Does.Contain("names chunk packs"));
    }
}
