namespace SpotCheckpoint.Cli.Tests;

[TestFixtureSource(typeof(TestStores), nameof(TestStores.Kinds))]
public sealed class InspectCommandTests(string kind)
{
    private StoreUnderTest _store = null!;

    [SetUp]
    public async Task SetUp()
    {
        _store = TestStores.Create(kind);
        await TrainingRun.RunAsync(_store.Root, "demo", steps: 8, every: 4);
    }

    [TearDown]
    public void TearDown() => _store.Dispose();

    [Test]
    public async Task Shows_the_newest_checkpoint_by_default_with_everything_it_holds()
    {
        var json = await Cli.JsonAsync("inspect", _store.RunUri("demo"));

        Assert.That(json.GetProperty("step").GetInt64(), Is.EqualTo(8));
        var manifest = json.GetProperty("manifest");
        Assert.That(manifest.GetProperty("runId").GetString(), Is.EqualTo("demo"));
        Assert.That(manifest.GetProperty("modules")[0].GetProperty("name").GetString(), Is.EqualTo("model"));
        Assert.That(manifest.GetProperty("optimizers")[0].GetProperty("type").GetString(), Is.EqualTo("AdamW"));
        Assert.That(manifest.GetProperty("schedulers")[0].GetProperty("stepCount").GetInt32(), Is.EqualTo(9), "StepLR counts its construction as a step");
        Assert.That(manifest.GetProperty("userState").TryGetProperty("cursor", out _), Is.True);
        var tensors = manifest.GetProperty("tensors").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToList();
        Assert.That(tensors, Does.Contain("model/fc1.weight"));
        long tensorBytes = manifest.GetProperty("tensors").EnumerateArray().Sum(t => t.GetProperty("bytes").GetInt64());
        Assert.That(json.GetProperty("tensorBytes").GetInt64(), Is.EqualTo(tensorBytes));
    }

    [Test]
    public async Task Step_picks_an_older_checkpoint()
    {
        var json = await Cli.JsonAsync("inspect", _store.RunUri("demo"), "--step", "4");
        Assert.That(json.GetProperty("manifest").GetProperty("step").GetInt64(), Is.EqualTo(4));
    }

    [Test]
    public async Task People_get_tables_of_modules_optimizers_and_tensors()
    {
        var (exit, output, error) = await Cli.RunAsync("inspect", _store.RunUri("demo"), "--tensors");
        Assert.That(exit, Is.Zero, error);
        Assert.That(output, Does.Contain("modules").And.Contain("optimizers").And.Contain("AdamW").And.Contain("StepLR").And.Contain("model/fc1.weight").And.Contain("cursor"));
    }

    [Test]
    public async Task A_step_without_a_checkpoint_fails_and_lists_the_steps_there_are()
    {
        var (exit, _, error) = await Cli.RunAsync("inspect", _store.RunUri("demo"), "--step", "5");
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(error, Does.Contain("no committed checkpoint at step 5").And.Contain("committed steps: 8, 4"));
    }

    [Test]
    public async Task A_uri_that_names_no_run_is_a_usage_error()
    {
        var (exit, _, error) = await Cli.RunAsync("inspect", "s3://bucket");
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(error, Does.Contain("names no run"));
    }
}
