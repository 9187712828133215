using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Tests;

/// <summary>The verbs on an incremental run (format version 2, fc1 frozen): they follow chunk references.</summary>
public sealed class IncrementalRunCommandTests
{
    private StoreUnderTest _source = null!;
    private Dictionary<long, string> _hashes = null!;

    [SetUp]
    public async Task SetUp()
    {
        _source = TestStores.Create("local");
        _hashes = await TrainingRun.RunAsync(_source.Root, "demo", steps: 12, every: 4, incremental: true);
    }

    [TearDown]
    public void TearDown() => _source.Dispose();

    private async Task<string> FrozenPackKeyAsync()
    {
        await using var store = _source.Open();
        var reader = await CheckpointReader.OpenAsync(store, "demo", 12);
        var fc1 = reader.Manifest.Tensors.Single(t => t.Name == "model/fc1.weight").Chunks!.Single();
        Assert.That(reader.Manifest.Packs![fc1.Pack].Step, Is.EqualTo(4), "the frozen weight is still where the first checkpoint wrote it");
        return reader.PackKey(fc1.Pack);
    }

    [Test]
    public async Task Copy_to_s3_copies_the_referenced_packs_and_the_copy_resumes_bit_identical()
    {
        using var destination = TestStores.Create("s3");
        var json = await Cli.JsonAsync("copy", _source.RunUri("demo"), destination.RunUri("demo"));
        Assert.That(json.GetProperty("verified").GetBoolean(), Is.True);
        await using (var from = _source.Open())
        await using (var to = destination.Open())
        {
            var referenced = new HashSet<string>();
            foreach (var listing in await CheckpointCatalog.ListAsync(from, "demo"))
                foreach (var key in (await CheckpointReader.OpenAsync(from, "demo", listing.Step)).DataKeys()) referenced.Add(key);
            var copiedPacks = (await Cli.ObjectsAsync(to, StoreKeys.ChunksPrefix("demo"))).Keys;
            Assert.That(copiedPacks, Is.EquivalentTo(referenced));
        }
        var (verifyExit, _, verifyError) = await Cli.RunAsync("verify", destination.RunUri("demo"), "--all");
        Assert.That(verifyExit, Is.Zero, verifyError);
        Assert.That(await TrainingRun.ResumeAsync(destination.Root, "demo", frozenFc1: true), Is.EqualTo((12L, _hashes[12])));
    }

    [Test]
    public async Task Verify_names_every_checkpoint_a_damaged_shared_chunk_breaks()
    {
        var pack = await FrozenPackKeyAsync();
        var path = Path.Combine(_source.Root, pack);
        var bytes = File.ReadAllBytes(path);
        bytes[100] ^= 0x10; // inside fc1.weight, the pack's first tensor
        File.WriteAllBytes(path, bytes);

        var (exit, _, error) = await Cli.RunAsync("verify", _source.RunUri("demo"), "--all");
        Assert.That(exit, Is.EqualTo(3));
        foreach (var step in new[] { 4, 8, 12 })
            Assert.That(error, Does.Contain($"corrupt: step {step}: object '{pack}'").And.Contain("chunk"), $"step {step}");
    }

    [Test]
    public async Task Ls_shows_own_and_total_size_and_inspect_shows_new_and_reused_bytes()
    {
        var ls = await Cli.JsonAsync("ls", _source.RunUri("demo"));
        var entries = ls.GetProperty("checkpoints").EnumerateArray().ToDictionary(e => e.GetProperty("step").GetInt64());
        Assert.That(entries[4].GetProperty("totalBytes").GetInt64(), Is.EqualTo(entries[4].GetProperty("bytes").GetInt64()), "the first checkpoint owns all it needs");
        Assert.That(entries[12].GetProperty("bytes").GetInt64(), Is.LessThan(entries[12].GetProperty("totalBytes").GetInt64()), "a later one references the frozen layer");

        var (exit, output, error) = await Cli.RunAsync("inspect", _source.RunUri("demo"), "--step", "12");
        Assert.That(exit, Is.Zero, error);
        Assert.That(output, Does.Contain("reused from").And.Contain("step 4 (reused)"));
    }

    [Test]
    public async Task Prune_keeps_the_chunks_the_kept_checkpoint_needs_and_removes_stale_unreferenced_packs()
    {
        await using (var store = _source.Open())
        {
            var stale = StoreKeys.PackKey("demo", StoreKeys.PackFileName(2, "deadbeef", 0));
            await Cli.WriteAllAsync(store, stale, new byte[32]);
            File.SetLastWriteTimeUtc(Path.Combine(_source.Root, stale), DateTime.UtcNow.AddHours(-3));
        }
        var (exit, _, error) = await Cli.RunAsync("prune", _source.RunUri("demo"), "--keep", "1");
        Assert.That(exit, Is.Zero, error);
        await using (var store = _source.Open())
        {
            var packs = (await Cli.ObjectsAsync(store, StoreKeys.ChunksPrefix("demo"))).Keys;
            Assert.That(packs.Any(k => k.Contains("deadbeef", StringComparison.Ordinal)), Is.False, "an old pack no manifest references is collected");
            Assert.That(packs, Does.Contain(await FrozenPackKeyAsync()), "the frozen layer step 12 still references stays");
        }
        var (verifyExit, _, verifyError) = await Cli.RunAsync("verify", _source.RunUri("demo"), "--all");
        Assert.That(verifyExit, Is.Zero, verifyError);
        Assert.That(await TrainingRun.ResumeAsync(_source.Root, "demo", frozenFc1: true), Is.EqualTo((12L, _hashes[12])));
    }
}
