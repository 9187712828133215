using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Tests;

[TestFixtureSource(typeof(TestStores), nameof(TestStores.Kinds))]
public sealed class LsCommandTests(string kind)
{
    private StoreUnderTest _store = null!;

    [SetUp]
    public async Task SetUp()
    {
        _store = TestStores.Create(kind);
        await TrainingRun.RunAsync(_store.Root, "demo", steps: 12, every: 4);
    }

    [TearDown]
    public void TearDown() => _store.Dispose();

    [Test]
    public async Task Lists_committed_checkpoints_newest_first_with_their_size_and_state()
    {
        var json = await Cli.JsonAsync("ls", _store.RunUri("demo"));

        var entries = json.GetProperty("checkpoints").EnumerateArray().ToList();
        Assert.That(entries.Select(e => e.GetProperty("step").GetInt64()), Is.EqualTo(new long[] { 12, 8, 4 }));
        await using var store = _store.Open();
        foreach (var e in entries)
        {
            long step = e.GetProperty("step").GetInt64();
            var objects = await Cli.ObjectsAsync(store, StoreKeys.StepPrefix("demo", step));
            Assert.That(e.GetProperty("bytes").GetInt64(), Is.EqualTo(objects.Values.Sum()), "size = manifest + shards");
            Assert.That(e.GetProperty("state").GetString(), Is.EqualTo("ok"));
            Assert.That(e.GetProperty("runId").GetString(), Is.EqualTo("demo"));
            Assert.That(e.GetProperty("createdUtc").GetDateTimeOffset(), Is.GreaterThan(DateTimeOffset.UtcNow.AddHours(-1)));
            Assert.That(e.GetProperty("tensors").GetInt32(), Is.GreaterThan(4));
        }
        Assert.That(json.GetProperty("uncommitted").GetArrayLength(), Is.Zero);
    }

    [Test]
    public async Task A_store_holding_several_runs_lists_them_all()
    {
        await TrainingRun.RunAsync(_store.Root, "other", steps: 3, every: 3);

        var json = await Cli.JsonAsync("ls", _store.Root);

        var runs = json.GetProperty("checkpoints").EnumerateArray().Select(e => (e.GetProperty("runId").GetString(), e.GetProperty("step").GetInt64())).ToList();
        Assert.That(runs, Is.EquivalentTo(new[] { ("demo", 12L), ("demo", 8L), ("demo", 4L), ("other", 3L) }));
    }

    [Test]
    public async Task A_damaged_checkpoint_shows_as_corrupt_and_a_folder_without_manifest_as_uncommitted()
    {
        await using (var store = _store.Open())
        {
            await Cli.DeleteShardAsync(store, "demo", 8);
            await Cli.WriteAllAsync(store, StoreKeys.StepPrefix("demo", 16) + "shard-00000.safetensors", new byte[100]);
        }

        var json = await Cli.JsonAsync("ls", _store.RunUri("demo"));

        var states = json.GetProperty("checkpoints").EnumerateArray().ToDictionary(e => e.GetProperty("step").GetInt64(), e => e.GetProperty("state").GetString());
        Assert.That(states, Is.EqualTo(new Dictionary<long, string?> { [12] = "ok", [8] = "corrupt", [4] = "ok" }));
        var corrupt = json.GetProperty("checkpoints").EnumerateArray().Single(e => e.GetProperty("step").GetInt64() == 8);
        Assert.That(corrupt.GetProperty("problem").GetString(), Does.Contain("the shard is missing"));
        var uncommitted = json.GetProperty("uncommitted").EnumerateArray().Single();
        Assert.That((uncommitted.GetProperty("step").GetInt64(), uncommitted.GetProperty("bytes").GetInt64()), Is.EqualTo((16L, 100L)));
    }

    [Test]
    public async Task People_get_a_table()
    {
        var (exit, output, error) = await Cli.RunAsync("ls", _store.RunUri("demo"));
        Assert.That(exit, Is.Zero, error);
        Assert.That(output, Does.Contain("step").And.Contain("created (UTC)").And.Contain("ok"));
        foreach (var step in new[] { "12", "8", "4" }) Assert.That(output, Does.Contain($" {step} "));
    }

    [Test]
    public async Task An_empty_run_lists_nothing_and_succeeds()
    {
        var json = await Cli.JsonAsync("ls", _store.RunUri("nothing-here"));
        Assert.That(json.GetProperty("checkpoints").GetArrayLength(), Is.Zero);
    }
}
