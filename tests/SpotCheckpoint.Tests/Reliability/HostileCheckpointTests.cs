using SpotCheckpoint.Format;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Tests.Checkpointing;

namespace SpotCheckpoint.Tests.Reliability;

/// <summary>
/// A corpus of damaged and hostile versions of the newest checkpoint. Each must be rejected with a typed error that
/// names the problem, resume must fall back to the previous good checkpoint and still finish bit-identically, and
/// nothing may crash, allocate absurd memory or touch files outside the checkpoint location.
/// </summary>
public class HostileCheckpointTests
{
    private const string Run = "test";
    private TempDirectory _dir = null!;
    private string _root = "";
    private LocalFileStore _store = null!;
    private static string? _straight;

    [SetUp]
    public async Task WriteCheckpointsAtSteps5And10()
    {
        _dir = new TempDirectory();
        _root = Path.Combine(_dir.Path, "store");
        _store = new LocalFileStore(_root);
        File.WriteAllText(Path.Combine(_dir.Path, "outside.txt"), "sentinel");
        using var job = new TinyTraining("adamw", "onecycle");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(_store, CheckpointPolicy.EverySteps(5)));
        for (long step = 1; step <= 10; step++) { job.TrainStep(); ckpt.Step(step); }
        await ckpt.FlushAsync();
        if (_straight is null)
        {
            using var straightJob = new TinyTraining("adamw", "onecycle");
            using var dir = new TempDirectory();
            var straight = straightJob.Attach(TinyTraining.NewCheckpointer(new LocalFileStore(dir.Path)));
            for (long step = 1; step <= TinyTraining.TotalSteps; step++) straightJob.TrainStep();
            _straight = straight.ComputeStateSha256();
        }
    }

    [TearDown]
    public async Task Cleanup()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    private string StepDir(long step) => Path.Combine(_root, Run, $"step-{step:D8}");
    private string ManifestPath(long step) => Path.Combine(StepDir(step), "manifest.json");
    private string ShardPath(long step) => Directory.GetFiles(StepDir(step), "*.safetensors").Single();

    private CheckpointManifest Load(long step) => ManifestCodec.Decode(File.ReadAllBytes(ManifestPath(step)), "m", Run, step);

    /// <summary>Changes the manifest of step 10 and stores it again with a valid checksum (a hostile writer).</summary>
    private void Rewrite(Action<CheckpointManifest> change)
    {
        var m = Load(10);
        change(m);
        File.WriteAllBytes(ManifestPath(10), ManifestCodec.Encode(m));
    }

    private static IEnumerable<TestCaseData> Corpus()
    {
        TestCaseData Case(string name, string expected, Action<HostileCheckpointTests> damage) =>
            new TestCaseData(damage, expected).SetName("Hostile_" + name);

        yield return Case("truncated_shard", "the manifest records", t => { using var f = new FileStream(t.ShardPath(10), FileMode.Open); f.SetLength(f.Length - 7); });
        yield return Case("flipped_data_bit", "checksum", t => FlipBit(t.ShardPath(10), fromEnd: 200));
        yield return Case("flipped_header_bit", "header checksum", t => FlipBit(t.ShardPath(10), at: 40));
        yield return Case("flipped_manifest_bit", "manifest checksum", t => FlipBit(t.ManifestPath(10), fromEnd: 40));
        yield return Case("missing_shard", "missing", t => File.Delete(t.ShardPath(10)));
        yield return Case("empty_manifest", "empty", t => File.WriteAllBytes(t.ManifestPath(10), []));
        yield return Case("garbage_manifest", "JSON", t => File.WriteAllText(t.ManifestPath(10), "\u0001\u0002 not json at all"));
        yield return Case("manifest_without_body", "lacks", t => File.WriteAllText(t.ManifestPath(10), "{\"manifestSha256\":\"00\"}"));
        yield return Case("unknown_schema_version", "schema version 7", t => t.Rewrite(m => m.SchemaVersion = 7));
        yield return Case("manifest_of_another_run", "belongs to run", t => t.Rewrite(m => m.RunId = "someone-else"));
        yield return Case("manifest_of_another_step", "step 5", t => File.Copy(t.ManifestPath(5), t.ManifestPath(10), overwrite: true));
        yield return Case("wrong_dtype", "dtype", t => t.Rewrite(m => m.Tensors.First(x => x.Name == "model/fc1.weight").Dtype = "I32"));
        yield return Case("wrong_shape", "shape", t => t.Rewrite(m => m.Tensors.First(x => x.Name == "model/fc1.weight").Shape = [8, 16]));
        yield return Case("renamed_tensor", "model/evil.weight", t => t.Rewrite(m =>
        {
            m.Tensors.First(x => x.Name == "model/fc1.weight").Name = "model/evil.weight";
            m.Modules[0].Tensors[m.Modules[0].Tensors.IndexOf("fc1.weight")] = "evil.weight";
        }));
        yield return Case("duplicate_tensor_names", "appears twice", t => t.Rewrite(m => m.Tensors[1].Name = m.Tensors[0].Name));
        yield return Case("offset_out_of_range", "outside shard", t => t.Rewrite(m => m.Tensors[0].Offset = m.Shards[0].Bytes + 4096));
        yield return Case("negative_offset", "outside shard", t => t.Rewrite(m => m.Tensors[0].Offset = -64));
        yield return Case("overlapping_tensors", "overlap", t => t.Rewrite(m => m.Tensors[1].Offset = m.Tensors[0].Offset + 4));
        yield return Case("absurd_size", "absurd", t => t.Rewrite(m => { m.Shards[0].Bytes = 1L << 62; m.Tensors[0].Shape = [1L << 60, 4]; m.Tensors[0].Bytes = 1L << 62; }));
        yield return Case("absurd_shard_size", "absurd size", t => t.Rewrite(m => m.Shards[0].Bytes = 1L << 62));
        yield return Case("path_traversal_in_shard_name", "invalid file name", t => t.Rewrite(m => m.Shards[0].File = "../../../outside.txt"));
        yield return Case("absolute_shard_name", "invalid file name", t => t.Rewrite(m => m.Shards[0].File = "/etc/passwd"));
        yield return Case("shard_index_out_of_range", "does not exist", t => t.Rewrite(m => m.Tensors[0].Shard = 9));
        yield return Case("bytes_not_matching_shape", "need", t => t.Rewrite(m => m.Tensors[0].Bytes += 4));
        yield return Case("tampered_tensor_checksum", "checksum", t => t.Rewrite(m => m.Tensors[0].Xxh3 = "0123456789abcdef"));
        yield return Case("unknown_dtype", "unknown dtype", t => t.Rewrite(m => m.Tensors[0].Dtype = "F128"));
        yield return Case("shard_swapped_with_older_checkpoint", "checksum", t =>
        {
            // Same size (same state layout), other bytes: only the checksums can tell.
            File.Copy(t.ShardPath(5), t.ShardPath(10), overwrite: true);
        });
        yield return Case("rng_state_of_wrong_length", "RNG", t => t.Rewrite(m =>
        {
            var rng = m.Tensors.First(x => x.Name == "rng/cpu");
            rng.Shape = [rng.Bytes / 2];
            rng.Bytes /= 2;
        }));
        yield return Case("missing_optimizer_state_tensor", "no such tensor", t => t.Rewrite(m => m.Tensors.RemoveAll(x => x.Name.StartsWith("optimizer/exp_avg/", StringComparison.Ordinal))));
    }

    [TestCaseSource(nameof(Corpus))]
    public async Task Resume_rejects_the_damaged_checkpoint_and_falls_back(Action<HostileCheckpointTests> damage, string expected)
    {
        damage(this);
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        using var job = new TinyTraining("adamw", "onecycle", initSeed: 42);
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(_store));
        var result = await ckpt.ResumeAsync();
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;

        Assert.That(result.Step, Is.EqualTo(5), "resume falls back to the previous good checkpoint");
        var rejection = result.SkippedCheckpoints.Single();
        Assert.That(rejection, Is.InstanceOf<CheckpointCorruptException>().Or.InstanceOf<CheckpointMismatchException>());
        Assert.That(rejection.Message, Does.Contain(expected).IgnoreCase, "the error names the problem");
        Assert.That(allocated, Is.LessThan(64L << 20), "no absurd allocation");
        Assert.That(File.ReadAllText(Path.Combine(_dir.Path, "outside.txt")), Is.EqualTo("sentinel"), "nothing outside the store is touched");
        Assert.That(Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName), Is.EquivalentTo(new[] { "store", "outside.txt" }));

        for (long step = 6; step <= TinyTraining.TotalSteps; step++) { job.TrainStep(); ckpt.Step(step); }
        Assert.That(ckpt.ComputeStateSha256(), Is.EqualTo(_straight), "the resumed run still ends bit-identically");
    }

    private static void FlipBit(string path, long fromEnd = -1, long at = -1)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        f.Position = at >= 0 ? at : f.Length - fromEnd;
        int b = f.ReadByte();
        f.Position -= 1;
        f.WriteByte((byte)(b ^ 0x10));
    }
}
