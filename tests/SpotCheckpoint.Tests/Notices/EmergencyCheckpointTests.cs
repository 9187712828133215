using Microsoft.Extensions.Time.Testing;
using SpotCheckpoint.Notices;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Tests.Checkpointing;
using SpotCheckpoint.Tests.Notices.Fakes;

namespace SpotCheckpoint.Tests.Notices;

/// <summary>The emergency checkpoint: taken at the next step boundary, planned against the deadline, then the loop stops.</summary>
public class EmergencyCheckpointTests
{
    private static Checkpointer New(ICheckpointStore store, ListLogger log, TimeProvider? time = null, CheckpointPolicy? policy = null, Action<CheckpointerOptions>? configure = null)
    {
        var options = new CheckpointerOptions { RunId = "test", Policy = policy ?? CheckpointPolicy.Manual };
        options.Notices.SafetyMargin = TimeSpan.Zero;
        configure?.Invoke(options);
        return new Checkpointer(store, options, log, time);
    }

    [Test]
    public async Task After_a_notice_the_next_step_commits_that_step_requests_a_stop_and_a_resumed_run_continues_from_it()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        var log = new ListLogger();
        string hashAt5;
        using (var job = new TinyTraining("adamw", "onecycle"))
        {
            await using var ckpt = job.Attach(New(store, log));
            await ckpt.ResumeAsync();
            for (long step = 1; step <= 4; step++)
            {
                job.TrainStep();
                Assert.That(ckpt.Step(step), Is.False);
                Assert.That(ckpt.StopRequested, Is.False);
            }
            job.TrainStep();
            ckpt.Notices.RequestTermination("test", TimeSpan.FromSeconds(30));
            Assert.That(ckpt.Step(5), Is.True, "the emergency snapshot is taken at this step boundary");
            Assert.That(ckpt.StopRequested, Is.True);
            hashAt5 = ckpt.ComputeStateSha256();
            var result = await ckpt.EmergencyCheckpoint!;
            Assert.That(result.Committed, Is.True);
            Assert.That(result.Checkpoint!.Step, Is.EqualTo(5));
            Assert.That(result.MetDeadline, Is.True);
            Assert.That(result.NoticeToCommit, Is.GreaterThan(TimeSpan.Zero).And.LessThan(TimeSpan.FromSeconds(30)));
            Assert.That(result.Notice.Provider, Is.EqualTo(NoticeProviders.Custom));
            Assert.That(log.Messages.Any(m => m.Contains("Emergency checkpoint of run test at step 5 committed", StringComparison.Ordinal)));

            job.TrainStep();
            Assert.That(ckpt.Step(6), Is.False, "one emergency checkpoint; nothing more after it");
        }
        using var fresh = new TinyTraining("adamw", "onecycle", initSeed: 9);
        await using var resumed = fresh.Attach(New(store, new ListLogger()));
        Assert.That((await resumed.ResumeAsync()).Step, Is.EqualTo(5));
        Assert.That(resumed.ComputeStateSha256(), Is.EqualTo(hashAt5));
    }

    /// <summary>Commits one checkpoint at step 1 so that the checkpointer has measured one.</summary>
    private static async Task<(TinyTraining Job, Checkpointer Ckpt)> WithOneMeasuredCheckpoint(GatedStore store, ListLogger log, FakeTimeProvider time, TimeSpan gateDelay)
    {
        var job = new TinyTraining("adam", "step");
        var ckpt = job.Attach(New(store, log, time, CheckpointPolicy.EverySteps(2)));
        await ckpt.ResumeAsync();
        job.TrainStep();
        ckpt.Step(1);
        // Not ordering: the delay makes the measured persist last about gateDelay, which the planner then estimates from.
        var opening = Task.Run(async () => { await Task.Delay(gateDelay); store.Open(); });
        await ckpt.CheckpointAsync();
        await opening;
        store.Close();
        return (job, ckpt);
    }

    [Test]
    public async Task When_the_full_state_cannot_fit_it_says_so_and_commits_the_snapshot_already_being_written()
    {
        using var dir = new TempDirectory();
        var store = new GatedStore(dir.Path);
        var log = new ListLogger();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (job, ckpt) = await WithOneMeasuredCheckpoint(store, log, time, TimeSpan.Zero);
        using (job)
        await using (ckpt)
        {
            job.TrainStep();
            Assert.That(ckpt.Step(2), Is.True, "a periodic checkpoint, stuck in the store");
            job.TrainStep();
            ckpt.Notices.RequestTermination("now", TimeSpan.Zero);
            Assert.That(ckpt.Step(3), Is.False, "no new snapshot: it could not commit in time");
            Assert.That(ckpt.StopRequested, Is.True);
            Assert.That(log.Messages.Any(m => m.Contains("not expected to fit", StringComparison.Ordinal) && m.Contains("step 2", StringComparison.Ordinal)));
            store.Open();
            var result = await ckpt.EmergencyCheckpoint!;
            Assert.That(result.Checkpoint!.Step, Is.EqualTo(2), "the most recent complete snapshot");
        }
    }

    [Test]
    public async Task With_time_to_spare_the_checkpoint_being_written_finishes_first_and_then_the_current_step_is_written()
    {
        using var dir = new TempDirectory();
        var store = new GatedStore(dir.Path);
        var log = new ListLogger();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (job, ckpt) = await WithOneMeasuredCheckpoint(store, log, time, TimeSpan.Zero);
        using (job)
        await using (ckpt)
        {
            job.TrainStep();
            ckpt.Step(2);
            job.TrainStep();
            ckpt.Notices.RequestTermination("later", TimeSpan.FromMinutes(10));
            // Opened from another thread while Step(3) waits (or before it starts): either way step 2 commits first.
            var opening = Task.Run(store.Open);
            Assert.That(ckpt.Step(3), Is.True, "waits for step 2 to free the staging buffers, then snapshots step 3");
            await opening;
            var result = await ckpt.EmergencyCheckpoint!;
            Assert.That(result.Checkpoint!.Step, Is.EqualTo(3));
            Assert.That(result.Plan, Does.Contain("letting the checkpoint of step 2 finish"));
            await ckpt.FlushAsync();
            Assert.That(ckpt.Statistics.Committed, Is.EqualTo(3), "steps 1, 2 and 3");
        }
    }

    [Test]
    public async Task A_checkpoint_that_would_not_finish_in_time_is_superseded_by_the_current_step()
    {
        using var dir = new TempDirectory();
        var store = new GatedStore(dir.Path);
        var log = new ListLogger();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        // The measured checkpoint took about 300 ms to persist: an in-flight one is expected to need that long again.
        var (job, ckpt) = await WithOneMeasuredCheckpoint(store, log, time, TimeSpan.FromMilliseconds(300));
        using (job)
        await using (ckpt)
        {
            job.TrainStep();
            ckpt.Step(2);
            job.TrainStep();
            var stats = ckpt.Statistics;
            var estimate = (stats.LastStall + stats.LastPersistDuration) * 1.25;
            // Enough for one new checkpoint, not for finishing step 2 and then writing step 3.
            ckpt.Notices.RequestTermination("soon", estimate * 1.5);
            Assert.That(ckpt.Step(3), Is.True);
            store.Open();
            var result = await ckpt.EmergencyCheckpoint!;
            Assert.That(result.Plan, Does.Contain("superseding the checkpoint of step 2"));
            Assert.That(result.Checkpoint!.Step, Is.EqualTo(3));
            await ckpt.FlushAsync();
            Assert.That(log.Messages.Any(m => m.Contains("at step 2 superseded", StringComparison.Ordinal)));
            Assert.That(Directory.Exists(Path.Combine(dir.Path, "test", "step-00000002")) &&
                        Directory.EnumerateFiles(Path.Combine(dir.Path, "test", "step-00000002")).Any(), Is.False,
                "the superseded checkpoint leaves nothing behind");
            Assert.That(ckpt.Statistics.Failed, Is.Zero, "superseded is not failed");
        }
    }

    [Test]
    public async Task A_failed_emergency_checkpoint_is_reported_and_the_loop_is_still_told_to_stop()
    {
        using var dir = new TempDirectory();
        var log = new ListLogger();
        using var job = new TinyTraining("sgd", "step");
        await using var ckpt = job.Attach(New(new ReadOnlyStore(dir.Path), log, configure: o => o.ProbeLocation = false));
        await ckpt.ResumeAsync();
        job.TrainStep();
        ckpt.Notices.RequestTermination("test", TimeSpan.FromSeconds(30));
        ckpt.Step(1);
        Assert.That(ckpt.StopRequested, Is.True);
        var result = await ckpt.EmergencyCheckpoint!;
        Assert.That(result.Committed, Is.False);
        Assert.That(result.Error, Is.InstanceOf<IOException>());
        Assert.That(log.Messages.Any(m => m.Contains("Emergency checkpoint of run test failed", StringComparison.Ordinal)));
    }

    [Test]
    public async Task Azure_approval_is_sent_only_after_the_commit_and_names_the_right_event()
    {
        using var dir = new TempDirectory();
        var store = new GatedStore(dir.Path); // closed: the emergency checkpoint's writes wait until the test opens it
        await using var azure = new FakeAzureImds();
        var log = new ListLogger();
        using var job = new TinyTraining("adamw", "linear");
        await using var ckpt = job.Attach(New(store, log, configure: o => o.Notices.UseSource(AzureScheduledEventsTests.Source(azure))));
        await ckpt.ResumeAsync();
        // Another run's checkpoint at every step in the same store: the approval must wait for this run's own manifest.
        var other = new LocalFileStore(dir.Path);
        bool? ownManifestAtApproval = null;
        long step = 0;
        azure.OnApprove = _ => ownManifestAtApproval = File.Exists(Path.Combine(dir.Path, "test", $"step-{Volatile.Read(ref step):D8}", "manifest.json"));
        var noticeSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ckpt.Notices.NoticeReceived += n => { if (n.Kind == NoticeKind.Termination) noticeSeen.TrySetResult(); };
        azure.AddEvent("other-vm-event", "Preempt", ["another-vm"], DateTimeOffset.UtcNow.AddSeconds(30));
        azure.AddEvent("freeze-1", "Freeze", [azure.VmName], DateTimeOffset.UtcNow.AddSeconds(30));
        azure.AddEvent("evict-1", "Preempt", [azure.VmName], DateTimeOffset.UtcNow.AddSeconds(30));
        for (long s = 1; s <= 3; s++) await other.CreateExclusiveAsync(StoreKeys.ManifestKey("other-run", s), "{}"u8.ToArray());
        job.TrainStep();
        ckpt.Step(Interlocked.Increment(ref step));
        if (!ckpt.StopRequested)
        {
            await noticeSeen.Task.WaitAsync(TimeSpan.FromSeconds(20));
            job.TrainStep();
            ckpt.Step(Interlocked.Increment(ref step));
        }
        Assert.That(ckpt.StopRequested, Is.True, "the notice was handled at this step boundary");
        // The emergency checkpoint's writes are held by the gate: nothing may be approved while it is uncommitted.
        await store.FirstWriteStarted.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.That(azure.Approved, Is.Empty, "nothing is approved before the checkpoint commits");
        store.Open();
        var result = await ckpt.EmergencyCheckpoint!;
        Assert.That(result.Acknowledged, Is.True);
        Assert.That(result.Checkpoint!.Step, Is.EqualTo(step));
        Assert.That(azure.Approved, Is.EqualTo(new[] { "evict-1" }));
        Assert.That(ownManifestAtApproval, Is.True, "the approval came after this run's manifest of that step");
    }

    [Test]
    public async Task With_approval_turned_off_nothing_is_posted()
    {
        using var dir = new TempDirectory();
        await using var azure = new FakeAzureImds();
        using var job = new TinyTraining("sgd", "step");
        await using var ckpt = job.Attach(New(new LocalFileStore(dir.Path), new ListLogger(),
            configure: o => o.Notices.UseSource(AzureScheduledEventsTests.Source(azure, a => a.ApproveAfterCheckpoint = false))));
        await ckpt.ResumeAsync();
        var noticeSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ckpt.Notices.NoticeReceived += n => { if (n.Kind == NoticeKind.Termination) noticeSeen.TrySetResult(); };
        azure.AddEvent("evict-2", "Preempt", [azure.VmName], DateTimeOffset.UtcNow.AddSeconds(30));
        await noticeSeen.Task.WaitAsync(TimeSpan.FromSeconds(20));
        job.TrainStep();
        ckpt.Step(1);
        Assert.That(ckpt.StopRequested, Is.True);
        var result = await ckpt.EmergencyCheckpoint!;
        Assert.That(result.Committed, Is.True);
        Assert.That(result.Acknowledged, Is.False);
        Assert.That(azure.Approved, Is.Empty);
    }
}
