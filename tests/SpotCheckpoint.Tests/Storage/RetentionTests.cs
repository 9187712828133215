using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Tests.Format;

namespace SpotCheckpoint.Tests.Storage;

public class RetentionTests
{
    private const string RunId = "ret-run";
    private static readonly TimeSpan IncompleteMaxAge = TimeSpan.FromHours(1);

    private TempDirectory _dir = null!;
    private LocalFileStore _store = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDirectory();
        _store = new LocalFileStore(_dir.Path);
    }

    [TearDown]
    public async Task TearDown()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    /// <summary>Commits real checkpoints (two shards each) for <paramref name="steps"/>, in the order given.</summary>
    private async Task CommitAsync(string runId, params long[] steps)
    {
        foreach (var step in steps)
        {
            using var snapshot = StagedSnapshot.Create(
            [
                ("model/w", "F32", [4, 4]),
                ("model/b", "F32", [4]),
                ("optimizer/step", "I64", []),
            ], maxShardBytes: 64, seed: (int)step);
            await snapshot.PersistAsync(_store, runId, step);
        }
    }

    /// <summary>What a writer that crashed before its commit leaves: shards, no manifest.</summary>
    private async Task LeaveUncommittedAsync(long step, string tag = "feedf00d")
    {
        foreach (var shard in new[] { 0, 1 })
        {
            await using var writer = await _store.OpenWriteAsync($"{StoreKeys.StepPrefix(RunId, step)}shard-{shard:D5}.{tag}.safetensors");
            await writer.WriteAsync(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 });
            await writer.CompleteAsync();
        }
    }

    private async Task<List<string>> KeysAsync(string prefix)
    {
        var keys = new List<string>();
        await foreach (var o in _store.ListAsync(prefix)) keys.Add(o.Key);
        keys.Sort(StringComparer.Ordinal);
        return keys;
    }

    private Task<List<string>> StepKeysAsync(long step) => KeysAsync(StoreKeys.StepPrefix(RunId, step));

    private async Task<long[]> CommittedStepsAsync() =>
        (await CheckpointCatalog.ListAsync(_store, RunId)).Select(l => l.Step).ToArray();

    private string StepDirectory(long step) => Path.Combine(_store.Root, RunId, $"step-{step:D8}");

    private async Task AssertIntactAsync(long step)
    {
        var reader = await CheckpointReader.OpenAsync(_store, RunId, step);
        Assert.That(async () => await reader.VerifyAllAsync(), Throws.Nothing, $"step {step} must stay intact");
        var expected = reader.Manifest.Shards.Select((_, i) => reader.ShardKey(i)).Append(StoreKeys.ManifestKey(RunId, step)).Order(StringComparer.Ordinal);
        Assert.That(await StepKeysAsync(step), Is.EqualTo(expected), $"step {step} holds exactly its manifest and shards");
    }

    private async Task AssertGoneAsync(long step)
    {
        Assert.That(await StepKeysAsync(step), Is.Empty, $"step {step} should be deleted");
        Assert.That(Directory.Exists(StepDirectory(step)), Is.False, $"the folder of step {step} should be gone");
    }

    [Test]
    public async Task Listing_returns_committed_checkpoints_newest_first()
    {
        await CommitAsync(RunId, 3, 1, 5, 2, 4);
        await LeaveUncommittedAsync(6);
        await CommitAsync("ret-run-other", 9);

        var listings = await CheckpointCatalog.ListAsync(_store, RunId);
        Assert.That(listings.Select(l => l.Step), Is.EqualTo(new long[] { 5, 4, 3, 2, 1 }), "uncommitted step 6 and other runs are not listed");
        foreach (var l in listings)
        {
            Assert.That(l.RunId, Is.EqualTo(RunId));
            Assert.That(l.ManifestKey, Is.EqualTo(StoreKeys.ManifestKey(RunId, l.Step)));
            Assert.That(l.CommittedUtc, Is.Not.Null);
        }
    }

    [Test]
    public async Task Listing_an_empty_store_or_a_bad_run_id()
    {
        Assert.That(await CheckpointCatalog.ListAsync(_store, RunId), Is.Empty);
        Assert.That(async () => await CheckpointCatalog.ListAsync(_store, "../x"), Throws.InstanceOf<ArgumentException>());
    }

    [Test]
    public async Task Keeping_two_leaves_exactly_the_two_newest_and_deletes_older_ones_completely()
    {
        await CommitAsync(RunId, 1, 2, 3, 4, 5);
        var before = (await KeysAsync(RunId + "/")).Count;

        int removed = await CheckpointCatalog.ApplyRetentionAsync(_store, RunId, keepLast: 2, IncompleteMaxAge);

        Assert.That(await CommittedStepsAsync(), Is.EqualTo(new long[] { 5, 4 }));
        foreach (var step in new long[] { 1, 2, 3 }) await AssertGoneAsync(step);
        foreach (var step in new long[] { 4, 5 }) await AssertIntactAsync(step);
        Assert.That(removed, Is.EqualTo(before - (await KeysAsync(RunId + "/")).Count), "the count reports the objects removed");
        Assert.That(removed, Is.EqualTo(3 * 3), "three steps of two shards and a manifest each");
    }

    [Test]
    public async Task Retention_is_idempotent()
    {
        await CommitAsync(RunId, 1, 2, 3, 4, 5);
        await CheckpointCatalog.ApplyRetentionAsync(_store, RunId, keepLast: 2, IncompleteMaxAge);
        var after = await KeysAsync("");
        Assert.That(await CheckpointCatalog.ApplyRetentionAsync(_store, RunId, keepLast: 2, IncompleteMaxAge), Is.Zero);
        Assert.That(await KeysAsync(""), Is.EqualTo(after));
    }

    [Test]
    public async Task Keeping_more_than_exist_deletes_nothing()
    {
        await CommitAsync(RunId, 1, 2, 3);
        var before = await KeysAsync("");
        Assert.That(await CheckpointCatalog.ApplyRetentionAsync(_store, RunId, keepLast: 10, IncompleteMaxAge), Is.Zero);
        Assert.That(await KeysAsync(""), Is.EqualTo(before));
    }

    [Test]
    public async Task Keeping_fewer_than_one_is_refused()
    {
        await CommitAsync(RunId, 1);
        Assert.That(async () => await CheckpointCatalog.ApplyRetentionAsync(_store, RunId, keepLast: 0, IncompleteMaxAge),
            Throws.InstanceOf<ArgumentOutOfRangeException>());
        await AssertIntactAsync(1);
    }

    [Test]
    public async Task Other_runs_are_never_touched()
    {
        await CommitAsync(RunId, 1, 2, 3, 4, 5);
        await CommitAsync("ret-run-other", 1, 2, 3);
        await CommitAsync("ret-ru", 1, 2);
        var otherBefore = await KeysAsync("ret-run-other/");
        var shortBefore = await KeysAsync("ret-ru/");

        await CheckpointCatalog.ApplyRetentionAsync(_store, RunId, keepLast: 1, IncompleteMaxAge);

        Assert.That(await KeysAsync("ret-run-other/"), Is.EqualTo(otherBefore));
        Assert.That(await KeysAsync("ret-ru/"), Is.EqualTo(shortBefore));
        Assert.That(await CommittedStepsAsync(), Is.EqualTo(new long[] { 5 }));
    }

    [Test]
    public async Task Uncommitted_leftovers_older_than_the_newest_commit_are_deleted_and_newer_ones_kept()
    {
        await CommitAsync(RunId, 1, 2, 3, 4, 5);
        await LeaveUncommittedAsync(0);
        await LeaveUncommittedAsync(6);
        // A losing writer's shards in a deleted step go with it.
        await LeaveUncommittedAsync(2, tag: "0badc0de");

        await CheckpointCatalog.ApplyRetentionAsync(_store, RunId, keepLast: 2, IncompleteMaxAge);

        await AssertGoneAsync(0);
        await AssertGoneAsync(2);
        Assert.That(await StepKeysAsync(6), Has.Count.EqualTo(2), "step 6 is newer than every commit: it may still be in flight");
        Assert.That(await CommittedStepsAsync(), Is.EqualTo(new long[] { 5, 4 }));
    }

    [Test]
    public async Task An_uncommitted_step_between_commits_is_deleted()
    {
        await CommitAsync(RunId, 1, 2, 4, 5);
        await LeaveUncommittedAsync(3);

        await CheckpointCatalog.ApplyRetentionAsync(_store, RunId, keepLast: 3, IncompleteMaxAge);

        await AssertGoneAsync(3);
        await AssertGoneAsync(1);
        foreach (var step in new long[] { 2, 4, 5 }) await AssertIntactAsync(step);
    }

    [Test]
    public async Task Uncommitted_steps_are_kept_when_nothing_is_committed_yet()
    {
        await LeaveUncommittedAsync(1);
        await LeaveUncommittedAsync(2);
        await CheckpointCatalog.ApplyRetentionAsync(_store, RunId, keepLast: 1, IncompleteMaxAge);
        Assert.That(await StepKeysAsync(1), Has.Count.EqualTo(2));
        Assert.That(await StepKeysAsync(2), Has.Count.EqualTo(2));
    }

    [Test]
    public async Task In_flight_steps_are_never_touched()
    {
        await CommitAsync(RunId, 1, 2, 3, 4, 5);
        await LeaveUncommittedAsync(0);
        // A stray in an in-flight step that is also among the kept ones must survive too.
        await LeaveUncommittedAsync(5, tag: "00c0ffee");
        var step0 = await StepKeysAsync(0);
        var step1 = await StepKeysAsync(1);
        var step5 = await StepKeysAsync(5);

        await CheckpointCatalog.ApplyRetentionAsync(_store, RunId, keepLast: 2, IncompleteMaxAge, inFlight: [0, 1, 5]);

        Assert.That(await StepKeysAsync(0), Is.EqualTo(step0), "uncommitted in-flight step");
        Assert.That(await StepKeysAsync(1), Is.EqualTo(step1), "committed in-flight step older than the kept ones");
        Assert.That(await StepKeysAsync(5), Is.EqualTo(step5), "kept in-flight step");
        await AssertGoneAsync(2);
        await AssertGoneAsync(3);
        await AssertIntactAsync(4);
    }

    [Test]
    public async Task Stray_files_in_a_kept_step_are_removed()
    {
        await CommitAsync(RunId, 1, 2, 3, 4, 5);
        await LeaveUncommittedAsync(5, tag: "0badc0de"); // a losing writer's shards
        await _store.CreateExclusiveAsync($"{StoreKeys.StepPrefix(RunId, 4)}notes.txt", new byte[] { 1 });

        int removed = await CheckpointCatalog.ApplyRetentionAsync(_store, RunId, keepLast: 2, IncompleteMaxAge);

        await AssertIntactAsync(5);
        await AssertIntactAsync(4);
        Assert.That(removed, Is.EqualTo(3 * 3 + 2 + 1));
    }

    [Test]
    public async Task A_kept_step_whose_manifest_cannot_be_read_is_left_alone()
    {
        await CommitAsync(RunId, 1, 2);
        var manifestPath = Path.Combine(StepDirectory(2), StoreKeys.ManifestFileName);
        await File.WriteAllTextAsync(manifestPath, "{ damaged");
        var before = await StepKeysAsync(2);

        await CheckpointCatalog.ApplyRetentionAsync(_store, RunId, keepLast: 2, IncompleteMaxAge);

        Assert.That(await StepKeysAsync(2), Is.EqualTo(before), "without a readable manifest nothing can be called stray");
        await AssertIntactAsync(1);
    }

    [Test]
    public async Task Old_incomplete_writes_are_removed_and_fresh_ones_kept()
    {
        await CommitAsync(RunId, 1, 2, 3);
        await using var old = await _store.OpenWriteAsync($"{StoreKeys.StepPrefix(RunId, 4)}shard-00000.11111111.safetensors");
        await old.WriteAsync(new byte[] { 1 });
        await using var fresh = await _store.OpenWriteAsync($"{StoreKeys.StepPrefix(RunId, 5)}shard-00000.22222222.safetensors");
        await fresh.WriteAsync(new byte[] { 2 });
        var partials = Directory.GetFiles(Path.Combine(_store.Root, RunId), "*.partial", SearchOption.AllDirectories);
        Assert.That(partials, Has.Length.EqualTo(2));
        var oldPartial = partials.Single(p => p.Contains("step-00000004", StringComparison.Ordinal));
        var freshPartial = partials.Single(p => p.Contains("step-00000005", StringComparison.Ordinal));
        File.SetLastWriteTimeUtc(oldPartial, DateTime.UtcNow - TimeSpan.FromHours(3));

        await CheckpointCatalog.ApplyRetentionAsync(_store, RunId, keepLast: 2, IncompleteMaxAge);

        Assert.That(File.Exists(oldPartial), Is.False);
        Assert.That(File.Exists(freshPartial), Is.True);
        await fresh.CompleteAsync();
        Assert.That(await StepKeysAsync(5), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Manifests_are_deleted_before_their_shards()
    {
        await CommitAsync(RunId, 1, 2, 3, 4, 5);
        var recording = new RecordingStore(_store);

        await CheckpointCatalog.ApplyRetentionAsync(recording, RunId, keepLast: 2, IncompleteMaxAge);

        foreach (var step in new long[] { 1, 2, 3 })
        {
            var prefix = StoreKeys.StepPrefix(RunId, step);
            var deletes = recording.Deleted.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).ToList();
            Assert.That(deletes, Has.Count.EqualTo(3), $"step {step}");
            Assert.That(deletes[0], Is.EqualTo(StoreKeys.ManifestKey(RunId, step)),
                $"step {step}: a reader must never find a manifest whose shards are already gone");
        }
        Assert.That(recording.Deleted.Where(k => k.Contains("/step-00000004/", StringComparison.Ordinal) || k.Contains("/step-00000005/", StringComparison.Ordinal)), Is.Empty);
    }

    /// <summary>Records the deletes passed to a real store.</summary>
    private sealed class RecordingStore(ICheckpointStore inner) : ICheckpointStore
    {
        public List<string> Deleted { get; } = new();

        public string Description => inner.Description;

        public ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default) =>
            inner.OpenWriteAsync(key, cancellationToken);

        public ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) =>
            inner.CreateExclusiveAsync(key, content, cancellationToken);

        public ValueTask<int> ReadAsync(string key, long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
            inner.ReadAsync(key, offset, destination, cancellationToken);

        public ValueTask<long?> GetLengthAsync(string key, CancellationToken cancellationToken = default) => inner.GetLengthAsync(key, cancellationToken);

        public IAsyncEnumerable<StoredObject> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

        public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default)
        {
            Deleted.Add(key);
            return inner.DeleteAsync(key, cancellationToken);
        }

        public ValueTask<int> CleanupIncompleteAsync(string prefix, TimeSpan olderThan, CancellationToken cancellationToken = default) =>
            inner.CleanupIncompleteAsync(prefix, olderThan, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
