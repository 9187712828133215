using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Tests;

[TestFixtureSource(typeof(TestStores), nameof(TestStores.Kinds))]
public sealed class PruneCommandTests(string kind)
{
    private StoreUnderTest _store = null!;
    private Dictionary<long, string> _hashes = null!;

    [SetUp]
    public async Task SetUp()
    {
        _store = TestStores.Create(kind);
        _hashes = await TrainingRun.RunAsync(_store.Root, "demo", steps: 16, every: 4);
    }

    [TearDown]
    public void TearDown() => _store.Dispose();

    [Test]
    public async Task Keep_leaves_the_newest_checkpoints_and_removes_older_ones_leftovers_and_stale_uploads()
    {
        // A crashed writer's step folder (older than the newest commit) and an upload that never completed.
        await using (var store = _store.Open())
            await Cli.WriteAllAsync(store, StoreKeys.StepPrefix("demo", 10) + "shard-00000.safetensors", new byte[64]);
        var abandoned = await _store.StartIncompleteUploadAsync(StoreKeys.StepPrefix("demo", 20) + "shard-00000.safetensors");
        int incomplete = _store.TracksIncompleteUploads ? 1 : 0;
        Assert.That(_store.CountIncompleteUploads(), Is.EqualTo(incomplete));

        // The shortest age prune accepts is 1 s (zero would abort live uploads): let the abandoned upload grow older
        // than that. Stores keep whole-second times, hence the margin.
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        var json = await Cli.JsonAsync("prune", _store.RunUri("demo"), "--keep", "2", "--incomplete-older-than", "1s");
        await abandoned.DisposeAsync();

        Assert.That(json.GetProperty("kept").EnumerateArray().Select(e => e.GetInt64()), Is.EqualTo(new long[] { 16, 12 }));
        Assert.That(json.GetProperty("removedCheckpoints").EnumerateArray().Select(e => e.GetInt64()), Is.EqualTo(new long[] { 8, 4 }));
        Assert.That(json.GetProperty("removedUncommittedSteps").EnumerateArray().Select(e => e.GetInt64()), Is.EqualTo(new long[] { 10 }));
        Assert.That(json.GetProperty("removedIncompleteUploads").GetInt32(), Is.EqualTo(incomplete));
        Assert.That(_store.CountIncompleteUploads(), Is.Zero);
        await using (var store = _store.Open())
        {
            Assert.That((await CheckpointCatalog.ListAsync(store, "demo")).Select(l => l.Step), Is.EqualTo(new long[] { 16, 12 }));
            Assert.That(await Cli.ObjectsAsync(store, StoreKeys.StepPrefix("demo", 10)), Is.Empty);
        }
        Assert.That(await TrainingRun.ResumeAsync(_store.Root, "demo"), Is.EqualTo((16L, _hashes[16])), "what is left resumes exactly");
    }

    [Test]
    public async Task A_zero_incomplete_upload_age_is_a_usage_error_that_removes_nothing()
    {
        var (exit, _, error) = await Cli.RunAsync("prune", _store.RunUri("demo"), "--keep", "1", "--incomplete-older-than", "0s");
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(error, Does.Contain("must be positive"));
        await using var store = _store.Open();
        Assert.That((await CheckpointCatalog.ListAsync(store, "demo")).Count, Is.EqualTo(4), "nothing was pruned");
    }

    [Test]
    public async Task Fresh_incomplete_uploads_are_left_alone()
    {
        var inFlight = await _store.StartIncompleteUploadAsync(StoreKeys.StepPrefix("demo", 20) + "shard-00000.safetensors");

        var json = await Cli.JsonAsync("prune", _store.RunUri("demo"), "--keep", "3");
        Assert.That(json.GetProperty("removedIncompleteUploads").GetInt32(), Is.Zero, "younger than the default hour: it may still be being written");
        Assert.That(_store.CountIncompleteUploads(), Is.EqualTo(_store.TracksIncompleteUploads ? 1 : 0));
        await inFlight.DisposeAsync();
    }

    [Test]
    public async Task Dry_run_removes_nothing()
    {
        var json = await Cli.JsonAsync("prune", _store.RunUri("demo"), "--keep", "1", "--dry-run");
        Assert.That(json.GetProperty("removedCheckpoints").EnumerateArray().Select(e => e.GetInt64()), Is.EqualTo(new long[] { 12, 8, 4 }));
        await using var store = _store.Open();
        Assert.That((await CheckpointCatalog.ListAsync(store, "demo")).Count, Is.EqualTo(4));
    }

    [TestCase("0", "--keep must be at least 1")]
    public async Task Keep_below_one_is_a_usage_error(string keep, string message)
    {
        var (exit, _, error) = await Cli.RunAsync("prune", _store.RunUri("demo"), "--keep", keep);
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(error, Does.Contain(message));
    }

    [Test]
    public async Task A_bad_duration_is_a_usage_error()
    {
        var (exit, _, error) = await Cli.RunAsync("prune", _store.RunUri("demo"), "--keep", "1", "--incomplete-older-than", "soon");
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(error, Does.Contain("--incomplete-older-than 'soon' is not a duration"));
    }
}
