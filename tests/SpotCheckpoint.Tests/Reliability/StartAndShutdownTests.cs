using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Tests.Checkpointing;

namespace SpotCheckpoint.Tests.Reliability;

/// <summary>The location probe at start, a bounded dispose, resuming a chosen step, and the staging pool's memory.</summary>
public class StartAndShutdownTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Test]
    public async Task An_unwritable_store_fails_ResumeAsync_at_once_with_a_one_line_typed_error()
    {
        using var dir = new TempDirectory();
        using var job = new TinyTraining("sgd", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(new ReadOnlyStore(dir.Path)));
        var thrown = Assert.ThrowsAsync<CheckpointLocationException>(async () => await ckpt.ResumeAsync().WaitAsync(Bound));
        Assert.That(thrown!.Message, Does.Contain("read-only:file://").And.Contain("To fix").And.Not.Contains("\n"));
    }

    [Test]
    public async Task Without_ResumeAsync_the_first_Step_probes_the_location()
    {
        using var dir = new TempDirectory();
        using var job = new TinyTraining("sgd", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(new ReadOnlyStore(dir.Path), CheckpointPolicy.EverySteps(100)));
        job.TrainStep();
        Assert.Throws<CheckpointLocationException>(() => ckpt.Step(1));
    }

    [Test]
    public async Task The_probe_leaves_nothing_behind()
    {
        using var dir = new TempDirectory();
        using var job = new TinyTraining("sgd", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(new LocalFileStore(dir.Path)));
        await ckpt.ResumeAsync();
        Assert.That(Directory.EnumerateFileSystemEntries(dir.Path, "*", SearchOption.AllDirectories), Is.Empty);
    }

    /// <summary>A directory the process may not write (what an unprivileged user meets; root would pass a mode check).</summary>
    private sealed class DeniedStore(string root) : DelegatingStore(root)
    {
        public override ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default) =>
            throw new UnauthorizedAccessException($"Access to the path '{key}' is denied.");
    }

    [Test]
    public void A_directory_the_process_may_not_write_is_named_with_its_cause_and_fix()
    {
        using var dir = new TempDirectory();
        var thrown = Assert.ThrowsAsync<CheckpointLocationException>(async () =>
        {
            await using var ckpt = new Checkpointer(new DeniedStore(dir.Path));
            await ckpt.ResumeAsync();
        });
        Assert.That(thrown!.Message, Does.Contain("permission denied").And.Contain("make it writable"));
        Assert.That(thrown.Message, Does.Contain(new LocalFileStore(dir.Path).Description));
    }

    [TestCase("/proc/ckpt")]
    [TestCase("/proc/self/status")]
    public void A_path_on_proc_gets_a_message_that_does_not_mislead(string path)
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("/proc exists on Linux only");
        var thrown = Assert.ThrowsAsync<CheckpointLocationException>(async () =>
        {
            await using var ckpt = Checkpointer.Create(path, o => o.RunId = "demo");
            await ckpt.ResumeAsync();
        });
        Assert.That(thrown!.Message, Does.Contain(path).And.Not.Contains("Could not find file").And.Not.Contains("already exists"));
    }

    [Test]
    public async Task Dispose_is_bounded_when_a_persist_hangs()
    {
        using var dir = new TempDirectory();
        var store = new GatedStore(dir.Path); // never opened: the persist waits until cancelled
        using var job = new TinyTraining("sgd", "step");
        var ckpt = job.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(1), o => o.DisposeTimeout = TimeSpan.FromMilliseconds(200)));
        job.TrainStep();
        Assert.That(ckpt.Step(1), Is.True);
        var dispose = ckpt.DisposeAsync().AsTask();
        Assert.That(await Task.WhenAny(dispose, Task.Delay(Bound)), Is.SameAs(dispose), "dispose returned");
        Assert.That(ckpt.Statistics.Committed, Is.Zero, "the unfinished checkpoint stays invisible");
        Assert.That(await CheckpointCatalog.ListAsync(store, "test"), Is.Empty);
    }

    [Test]
    public async Task ResumeAsync_with_a_step_restores_that_step_and_no_other()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        string hashAt1;
        using (var job = new TinyTraining("adam", "step"))
        {
            await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store));
            job.TrainStep();
            ckpt.Step(1);
            await ckpt.CheckpointAsync();
            hashAt1 = ckpt.ComputeStateSha256();
            job.TrainStep();
            ckpt.Step(2);
            await ckpt.CheckpointAsync();
        }
        using var fresh = new TinyTraining("adam", "step", initSeed: 4);
        await using var resumed = fresh.Attach(TinyTraining.NewCheckpointer(store));
        var result = await resumed.ResumeFromAsync(1);
        Assert.That(result.Step, Is.EqualTo(1));
        Assert.That(resumed.ComputeStateSha256(), Is.EqualTo(hashAt1));
        Assert.That(async () => await resumed.ResumeFromAsync(7), Throws.InstanceOf<CheckpointNotFoundException>().With.Message.Contains("step 7"));
    }

    [Test]
    public void A_failed_pinned_allocation_is_remembered_and_not_retried()
    {
        int attempts = 0;
        using var pool = new StagingSlotPool(1, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance,
            _ => { attempts++; throw new InvalidOperationException("cudaHostAlloc failed"); });
        var layout = StagingLayout.Plan([("a", "F32", new long[] { 4 }, 16L)], 1 << 20);
        var other = StagingLayout.Plan([("a", "F32", new long[] { 8 }, 32L)], 1 << 20);
        var slot = pool.Reserve(TimeSpan.Zero, CancellationToken.None)!;
        var first = pool.ArenaFor(slot, layout, wantPinned: true);
        var second = pool.ArenaFor(slot, layout, wantPinned: true);
        var third = pool.ArenaFor(slot, other, wantPinned: true);
        Assert.That(attempts, Is.EqualTo(1), "pinned memory is tried once");
        Assert.That(second, Is.SameAs(first), "the pageable arena is reused, not re-allocated and re-touched");
        Assert.That(third.Buffers[0], Is.Not.InstanceOf<Staging.Cuda.PinnedHostBuffer>());
        Assert.That(pool.PinnedUnavailable, Is.True);
    }

    [Test]
    public async Task A_new_step_folder_is_made_durable_in_its_parent()
    {
        if (OperatingSystem.IsWindows()) Assert.Ignore("directory fsync is a POSIX call");
        using var dir = new TempDirectory();
        var flushed = new System.Collections.Concurrent.ConcurrentQueue<string>();
        FileSystemSync.Flushed = flushed.Enqueue;
        try
        {
            using var job = new TinyTraining("sgd", "step");
            await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(new LocalFileStore(dir.Path), configure: o => o.ProbeLocation = false));
            job.TrainStep();
            ckpt.Step(1);
            await ckpt.CheckpointAsync();
        }
        finally
        {
            FileSystemSync.Flushed = null;
        }
        var root = Path.GetFullPath(dir.Path);
        Assert.That(flushed, Does.Contain(root), "the run folder's entry in the root");
        Assert.That(flushed, Does.Contain(Path.Combine(root, "test")), "the step folder's entry in the run folder");
        Assert.That(flushed, Does.Contain(Path.Combine(root, "test", "step-00000001")), "the files' entries in the step folder");
    }
}
