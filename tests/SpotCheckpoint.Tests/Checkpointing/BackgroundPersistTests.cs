using Microsoft.Extensions.Time.Testing;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Checkpointing;

public class BackgroundPersistTests
{
    [Test]
    public async Task A_snapshot_restores_the_state_of_its_step_even_when_training_changes_every_tensor_before_the_persist_ends()
    {
        using var dir = new TempDirectory();
        var store = new GatedStore(dir.Path);
        string hashAtStep3;
        using (var job = new TinyTraining("adam", "onecycle"))
        {
            await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(3)));
            for (long step = 1; step <= 3; step++) { job.TrainStep(); ckpt.Step(step); }
            hashAtStep3 = ckpt.ComputeStateSha256();
            // The persist is blocked; training moves on and changes every parameter and moment.
            for (long step = 4; step <= 5; step++) { job.TrainStep(); ckpt.Step(step); }
            Assert.That(ckpt.ComputeStateSha256(), Is.Not.EqualTo(hashAtStep3));
            Assert.That(ckpt.Statistics.Committed, Is.Zero, "nothing can be committed while the store is stalled");
            store.Open();
            await ckpt.FlushAsync();
            Assert.That(ckpt.Statistics.Committed, Is.EqualTo(1));
        }
        using var fresh = new TinyTraining("adam", "onecycle", initSeed: 11);
        await using var resumed = fresh.Attach(TinyTraining.NewCheckpointer(store));
        Assert.That((await resumed.ResumeAsync()).Step, Is.EqualTo(3));
        Assert.That(resumed.ComputeStateSha256(), Is.EqualTo(hashAtStep3));
    }

    [Test]
    public async Task With_skip_a_due_checkpoint_is_skipped_and_counted_while_the_previous_one_persists()
    {
        using var dir = new TempDirectory();
        var store = new GatedStore(dir.Path);
        using var job = new TinyTraining("sgd", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(1), o => o.WhenBusy = BusyBehavior.Skip));
        job.TrainStep();
        Assert.That(ckpt.Step(1), Is.True);
        job.TrainStep();
        Assert.That(ckpt.Step(2), Is.False);
        Assert.That(ckpt.Statistics.Skipped, Is.EqualTo(1));
        store.Open();
        await ckpt.FlushAsync();
        job.TrainStep();
        Assert.That(ckpt.Step(3), Is.True, "once the persist finished the buffers are free again");
        await ckpt.FlushAsync();
        Assert.That(ckpt.Statistics.Committed, Is.EqualTo(2));
    }

    [Test]
    public async Task With_wait_training_blocks_at_most_the_configured_bound()
    {
        using var dir = new TempDirectory();
        var store = new GatedStore(dir.Path);
        using var job = new TinyTraining("sgd", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(1),
            o => { o.WhenBusy = BusyBehavior.Wait; o.MaxBusyWait = TimeSpan.FromMilliseconds(500); }));
        job.TrainStep();
        ckpt.Step(1);
        job.TrainStep();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.That(ckpt.Step(2), Is.False);
        watch.Stop();
        // It waits the whole bound for the busy buffer, and not much more: the tolerance covers a loaded 2-core machine.
        Assert.That(watch.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(500)), "the wait lasted the configured bound");
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromMilliseconds(500) + TimeSpan.FromSeconds(3)), "the wait is bounded by MaxBusyWait");
        Assert.That(ckpt.Statistics.Skipped, Is.EqualTo(1));
        store.Open();
    }

    [Test]
    public async Task Two_staging_buffers_let_a_second_snapshot_start_while_the_first_persists()
    {
        using var dir = new TempDirectory();
        var store = new GatedStore(dir.Path);
        using var job = new TinyTraining("adamw", "linear");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(1),
            o => { o.StagingBuffers = 2; o.WhenBusy = BusyBehavior.Skip; }));
        job.TrainStep();
        Assert.That(ckpt.Step(1), Is.True);
        job.TrainStep();
        Assert.That(ckpt.Step(2), Is.True);
        job.TrainStep();
        Assert.That(ckpt.Step(3), Is.False);
        store.Open();
        await ckpt.FlushAsync();
        Assert.That(ckpt.Statistics.Committed, Is.EqualTo(2));
        Assert.That(ckpt.Statistics.StagingBytes, Is.GreaterThan(0));
    }

    [Test]
    public async Task A_store_failure_leaves_the_checkpoint_invisible_and_training_going()
    {
        using var dir = new TempDirectory();
        var store = new FailingStore(dir.Path);
        using var job = new TinyTraining("adam", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(2)));
        for (long step = 1; step <= 4; step++) { job.TrainStep(); ckpt.Step(step); }
        await ckpt.FlushAsync();
        Assert.That(ckpt.Statistics.Failed, Is.EqualTo(2));
        Assert.That(ckpt.Statistics.LastError, Is.Not.Null);
        Assert.That(await CheckpointCatalog.ListAsync(store, "test"), Is.Empty);
        Assert.That(Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories), Is.Empty, "no partial shard is left");
        Assert.ThrowsAsync<CheckpointStoreException>(() => ckpt.CheckpointAsync());
    }

    [Test]
    public async Task An_explicit_checkpoint_retries_a_step_whose_background_persist_failed()
    {
        using var dir = new TempDirectory();
        var store = new FlakyStore(dir.Path, failures: 1);
        using var job = new TinyTraining("adam", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(2)));
        for (long step = 1; step <= 2; step++) { job.TrainStep(); ckpt.Step(step); }
        await ckpt.FlushAsync();
        Assert.That(ckpt.Statistics.Failed, Is.EqualTo(1));
        var result = await ckpt.CheckpointAsync();
        Assert.That(result!.Step, Is.EqualTo(2));
        Assert.That((await CheckpointCatalog.ListAsync(store, "test")).Single().Step, Is.EqualTo(2));
    }

    [Test]
    public async Task A_time_based_policy_follows_the_injected_clock()
    {
        using var dir = new TempDirectory();
        var time = new FakeTimeProvider();
        using var job = new TinyTraining("sgd", "step");
        await using var ckpt = job.Attach(new Checkpointer(new LocalFileStore(dir.Path),
            new CheckpointerOptions { RunId = "test", Policy = CheckpointPolicy.Every(TimeSpan.FromMinutes(10)) }, timeProvider: time));
        job.TrainStep();
        Assert.That(ckpt.Step(1), Is.False);
        time.Advance(TimeSpan.FromMinutes(9));
        job.TrainStep();
        Assert.That(ckpt.Step(2), Is.False);
        time.Advance(TimeSpan.FromMinutes(1));
        job.TrainStep();
        Assert.That(ckpt.Step(3), Is.True);
        job.TrainStep();
        Assert.That(ckpt.Step(4), Is.False, "the interval restarts at each checkpoint");
    }

    [Test]
    public async Task Retention_keeps_the_newest_committed_checkpoints()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using var job = new TinyTraining("adam", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(1), o => o.KeepLast = 2));
        for (long step = 1; step <= 5; step++) { job.TrainStep(); ckpt.Step(step); await ckpt.FlushAsync(); }
        var left = await CheckpointCatalog.ListAsync(store, "test");
        Assert.That(left.Select(l => l.Step), Is.EqualTo(new long[] { 5, 4 }));
        Assert.That(Directory.GetDirectories(Path.Combine(dir.Path, "test")), Has.Length.EqualTo(2));
    }

    [Test]
    public async Task An_explicit_checkpoint_of_a_step_already_committed_writes_nothing_new()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using var job = new TinyTraining("adam", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(2)));
        for (long step = 1; step <= 2; step++) { job.TrainStep(); ckpt.Step(step); }
        var result = await ckpt.CheckpointAsync();
        Assert.That(result?.Step ?? 2, Is.EqualTo(2));
        Assert.That(ckpt.Statistics.Committed, Is.EqualTo(1));
        Assert.That(ckpt.Statistics.Failed, Is.Zero);
    }

    /// <summary>A store whose first <c>failures</c> shard writes fail.</summary>
    private sealed class FlakyStore(string root, int failures) : DelegatingStore(root)
    {
        private int _left = failures;

        public override ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default) =>
            !key.Contains(ICheckpointStore.ProbeObjectPrefix, StringComparison.Ordinal) && Interlocked.Decrement(ref _left) >= 0 ? throw new IOException("connection reset (injected)") : Inner.OpenWriteAsync(key, cancellationToken);
    }

    /// <summary>A store whose shard writes fail half way.</summary>
    private sealed class FailingStore(string root) : DelegatingStore(root)
    {
        public override async ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default) =>
            new Failing(await Inner.OpenWriteAsync(key, cancellationToken));

        private sealed class Failing(CheckpointObjectWriter inner) : CheckpointObjectWriter
        {
            private int _writes;
            public override ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
                ++_writes > 1 ? throw new IOException("disk full (injected)") : inner.WriteAsync(data, cancellationToken);
            public override ValueTask CompleteAsync(CancellationToken cancellationToken = default) => inner.CompleteAsync(cancellationToken);
            public override ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }
}
