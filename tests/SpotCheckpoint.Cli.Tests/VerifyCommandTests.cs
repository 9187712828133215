using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Tests;

[TestFixtureSource(typeof(TestStores), nameof(TestStores.Kinds))]
public sealed class VerifyCommandTests(string kind)
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
    public async Task An_intact_checkpoint_verifies_with_exit_code_0()
    {
        var json = await Cli.JsonAsync("verify", _store.RunUri("demo"));
        var result = json.GetProperty("results").EnumerateArray().Single();
        Assert.That((result.GetProperty("step").GetInt64(), result.GetProperty("status").GetString()), Is.EqualTo((12L, "verified")));
        Assert.That(result.GetProperty("bytes").GetInt64(), Is.GreaterThan(0));
    }

    [Test]
    public async Task A_flipped_byte_is_exit_code_3_naming_the_shard_and_the_tensor()
    {
        string shard, tensor;
        await using (var store = _store.Open()) (shard, tensor) = await Cli.FlipTensorByteAsync(store, "demo", 12);

        var (exit, output, error) = await Cli.RunAsync("verify", _store.RunUri("demo"));

        Assert.That(exit, Is.EqualTo(3));
        Assert.That(output, Does.Contain("step 12: CORRUPT"));
        Assert.That(error, Does.Contain($"object '{shard}'").And.Contain($"the checksum of tensor '{tensor}' does not match"));
    }

    [Test]
    public async Task A_missing_shard_is_exit_code_3_naming_the_shard()
    {
        string shard;
        await using (var store = _store.Open()) shard = await Cli.DeleteShardAsync(store, "demo", 12);

        var (exit, output, _) = await Cli.RunAsync("verify", _store.RunUri("demo"), "--json");

        Assert.That(exit, Is.EqualTo(3));
        var result = System.Text.Json.JsonDocument.Parse(output).RootElement.GetProperty("results")[0];
        Assert.That(result.GetProperty("status").GetString(), Is.EqualTo("corrupt"));
        Assert.That(result.GetProperty("object").GetString(), Is.EqualTo(shard));
        Assert.That(result.GetProperty("problem").GetString(), Is.EqualTo("the shard is missing"));
    }

    [Test]
    public async Task A_damaged_manifest_is_exit_code_3_naming_the_manifest()
    {
        var key = StoreKeys.ManifestKey("demo", 12);
        await using (var store = _store.Open())
        {
            var bytes = await Cli.ReadAllAsync(store, key);
            bytes[bytes.Length / 2] ^= 0x01;
            await store.DeleteAsync(key);
            await store.CreateExclusiveAsync(key, bytes);
        }

        var (exit, _, error) = await Cli.RunAsync("verify", _store.RunUri("demo"));

        Assert.That(exit, Is.EqualTo(3));
        Assert.That(error, Does.Contain($"object '{key}'"));
    }

    [Test]
    public async Task All_verifies_every_checkpoint_and_reports_each()
    {
        await using (var store = _store.Open()) await Cli.FlipTensorByteAsync(store, "demo", 8, "model/head.bias");

        var (exit, output, _) = await Cli.RunAsync("verify", _store.RunUri("demo"), "--all", "--json");

        Assert.That(exit, Is.EqualTo(3));
        var json = System.Text.Json.JsonDocument.Parse(output).RootElement;
        var statuses = json.GetProperty("results").EnumerateArray().ToDictionary(r => r.GetProperty("step").GetInt64(), r => r.GetProperty("status").GetString());
        Assert.That(statuses, Is.EqualTo(new Dictionary<long, string?> { [4] = "verified", [8] = "corrupt", [12] = "verified" }));
        Assert.That((json.GetProperty("verified").GetInt32(), json.GetProperty("corrupt").GetInt32()), Is.EqualTo((2, 1)));
    }

    [Test]
    public async Task Step_verifies_that_step_only()
    {
        await using (var store = _store.Open()) await Cli.FlipTensorByteAsync(store, "demo", 12);
        var (exit, _, _) = await Cli.RunAsync("verify", _store.RunUri("demo"), "--step", "8");
        Assert.That(exit, Is.Zero, "step 8 is intact; the damage is in step 12");
    }

    [Test]
    public async Task Step_and_all_together_are_a_usage_error()
    {
        var (exit, _, error) = await Cli.RunAsync("verify", _store.RunUri("demo"), "--step", "8", "--all");
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(error, Does.Contain("--step and --all cannot be used together"));
    }

    [Test]
    public async Task A_run_without_checkpoints_is_exit_code_1()
    {
        var (exit, _, error) = await Cli.RunAsync("verify", _store.RunUri("nothing-here"));
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(error, Does.Contain("has no committed checkpoint"));
    }
}
