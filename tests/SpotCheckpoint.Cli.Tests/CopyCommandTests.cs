using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Tests;

/// <summary>copy between every pair of store kinds: byte for byte, verified, and resuming to the same state.</summary>
[TestFixtureSource(typeof(TestStores), nameof(TestStores.Pairs))]
public sealed class CopyCommandTests(string sourceKind, string destinationKind)
{
    private StoreUnderTest _source = null!;
    private StoreUnderTest _destination = null!;
    private Dictionary<long, string> _hashes = null!;

    [SetUp]
    public async Task SetUp()
    {
        _source = TestStores.Create(sourceKind);
        _destination = TestStores.Create(destinationKind);
        _hashes = await TrainingRun.RunAsync(_source.Root, "demo", steps: 12, every: 4);
    }

    [TearDown]
    public void TearDown()
    {
        _source.Dispose();
        _destination.Dispose();
    }

    [Test]
    public async Task Copies_every_checkpoint_byte_for_byte_and_the_copy_resumes_to_the_same_state()
    {
        var json = await Cli.JsonAsync("copy", _source.RunUri("demo"), _destination.RunUri("demo"));

        Assert.That(json.GetProperty("checkpoints").EnumerateArray().Select(e => (e.GetProperty("step").GetInt64(), e.GetProperty("status").GetString())),
            Is.EqualTo(new[] { (4L, "copied"), (8L, "copied"), (12L, "copied") }));
        Assert.That(json.GetProperty("verified").GetBoolean(), Is.True);
        await using (var from = _source.Open())
        await using (var to = _destination.Open())
        {
            var sourceObjects = await Cli.ObjectsAsync(from, "demo/");
            var copiedObjects = await Cli.ObjectsAsync(to, "demo/");
            Assert.That(copiedObjects.Keys, Is.EquivalentTo(sourceObjects.Keys));
            foreach (var key in sourceObjects.Keys)
                Assert.That(await Cli.ReadAllAsync(to, key), Is.EqualTo(await Cli.ReadAllAsync(from, key)), key);
        }
        var (verifyExit, _, verifyError) = await Cli.RunAsync("verify", _destination.RunUri("demo"), "--all");
        Assert.That(verifyExit, Is.Zero, verifyError);
        Assert.That(await TrainingRun.ResumeAsync(_destination.Root, "demo"), Is.EqualTo((12L, _hashes[12])));
    }

    [Test]
    public async Task Step_copies_one_checkpoint_which_resumes_to_that_steps_state()
    {
        var (exit, output, error) = await Cli.RunAsync("copy", _source.RunUri("demo"), _destination.RunUri("demo"), "--step", "8");
        Assert.That(exit, Is.Zero, error);
        Assert.That(output, Does.Contain("step 8: copied").And.Contain("verified"));
        await using (var to = _destination.Open())
            Assert.That((await CheckpointCatalog.ListAsync(to, "demo")).Select(l => l.Step), Is.EqualTo(new long[] { 8 }));
        Assert.That(await TrainingRun.ResumeAsync(_destination.Root, "demo"), Is.EqualTo((8L, _hashes[8])));
    }

    [Test]
    public async Task A_destination_store_without_the_run_id_gets_the_run_inside_it()
    {
        var json = await Cli.JsonAsync("copy", _source.RunUri("demo"), _destination.Root, "--step", "12");
        Assert.That(json.GetProperty("destination").GetString(), Does.EndWith("/demo"));
        Assert.That(await TrainingRun.ResumeAsync(_destination.Root, "demo"), Is.EqualTo((12L, _hashes[12])));
    }

    [Test]
    public async Task Copying_again_finds_the_checkpoints_already_there()
    {
        await Cli.JsonAsync("copy", _source.RunUri("demo"), _destination.RunUri("demo"));
        var json = await Cli.JsonAsync("copy", _source.RunUri("demo"), _destination.RunUri("demo"));
        Assert.That(json.GetProperty("checkpoints").EnumerateArray().Select(e => e.GetProperty("status").GetString()), Is.All.EqualTo("present"));
    }

    [Test]
    public async Task A_corrupt_source_checkpoint_is_not_committed_at_the_destination()
    {
        string shard;
        await using (var from = _source.Open()) (shard, _) = await Cli.FlipTensorByteAsync(from, "demo", 8);

        var (exit, output, error) = await Cli.RunAsync("copy", _source.RunUri("demo"), _destination.RunUri("demo"), "--json");

        Assert.That(exit, Is.EqualTo(3));
        Assert.That(error, Does.Contain($"object '{shard}'"));
        var statuses = System.Text.Json.JsonDocument.Parse(output).RootElement.GetProperty("checkpoints").EnumerateArray()
            .ToDictionary(e => e.GetProperty("step").GetInt64(), e => e.GetProperty("status").GetString());
        Assert.That(statuses, Is.EqualTo(new Dictionary<long, string?> { [4] = "copied", [8] = "corrupt", [12] = "copied" }));
        await using var to = _destination.Open();
        Assert.That((await CheckpointCatalog.ListAsync(to, "demo")).Select(l => l.Step), Is.EqualTo(new long[] { 12, 4 }));
        Assert.That(await Cli.ObjectsAsync(to, StoreKeys.StepPrefix("demo", 8)), Is.Empty, "no shard of the corrupt checkpoint is left behind");
    }
}
