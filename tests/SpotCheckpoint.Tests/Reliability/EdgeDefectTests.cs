using SpotCheckpoint.Format;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Tests.Checkpointing;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Tests.Reliability;

/// <summary>
/// The edges of issue 11: each test here failed on the code before the fix (see the defect list).
/// </summary>
public class EdgeDefectTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static async Task TrainAsync(TinyTraining job, Checkpointer ckpt, long from, long to)
    {
        for (long step = from; step <= to; step++)
        {
            job.TrainStep();
            ckpt.Step(step);
        }
        await ckpt.FlushAsync();
    }

    /// <summary>Commits checkpoints of a differently shaped model at <paramref name="steps"/> under run "test".</summary>
    private static async Task WriteForeignAsync(ICheckpointStore store, params long[] steps)
    {
        using var foreign = new TinyTraining("sgd", "step", initSeed: 5, hidden: 32);
        // Keeps everything, so that the run's own older checkpoints are still there (the reproduction).
        await using var ckpt = foreign.Attach(TinyTraining.NewCheckpointer(store, configure: o => o.KeepLast = 10));
        foreach (var step in steps)
        {
            foreign.TrainStep();
            ckpt.Step(step);
            await ckpt.CheckpointAsync();
        }
    }

    // Defect 1: a fallback resume followed by retention deleted the run's own progress.
    [Test]
    public async Task After_a_fallback_resume_retention_keeps_the_resumed_timeline_and_the_next_resume_continues_from_it()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using (var first = new TinyTraining("adam", "step"))
        {
            await using var ckpt = first.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(10), o => o.KeepLast = 3));
            await ckpt.ResumeAsync();
            await TrainAsync(first, ckpt, 1, 20);
        }
        await WriteForeignAsync(store, 90, 100, 110);

        using (var second = new TinyTraining("adam", "step", initSeed: 7))
        {
            await using var ckpt = second.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(10), o => o.KeepLast = 3));
            var resume = await ckpt.ResumeAsync();
            Assert.That(resume.Step, Is.EqualTo(20), "the foreign checkpoints do not fit");
            await TrainAsync(second, ckpt, 21, 80);
            Assert.That(ckpt.Statistics.Committed, Is.EqualTo(6));
        }

        using var third = new TinyTraining("adam", "step", initSeed: 8);
        await using var resumed = third.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(10)));
        var again = await resumed.ResumeAsync();
        Assert.That(again.Step, Is.EqualTo(80), "the run's own newest commit survived retention");
    }

    // Defect 1: the resumed timeline's commit of a step an abandoned checkpoint holds must not conflict.
    [Test]
    public async Task A_resumed_run_that_reaches_an_abandoned_step_commits_it_and_resumes_from_it()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using (var first = new TinyTraining("sgd", "step"))
        {
            await using var ckpt = first.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(10)));
            await TrainAsync(first, ckpt, 1, 20);
        }
        await WriteForeignAsync(store, 30, 40);
        using (var second = new TinyTraining("sgd", "step", initSeed: 7))
        {
            await using var ckpt = second.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(10)));
            Assert.That((await ckpt.ResumeAsync()).Step, Is.EqualTo(20));
            await TrainAsync(second, ckpt, 21, 40);
            Assert.That(ckpt.Statistics.Failed, Is.Zero, "steps 30 and 40 of the abandoned timeline do not block the new commits");
            Assert.That(ckpt.Statistics.Committed, Is.EqualTo(2));
        }
        using var third = new TinyTraining("sgd", "step", initSeed: 8);
        await using var resumed = third.Attach(TinyTraining.NewCheckpointer(store));
        Assert.That((await resumed.ResumeAsync()).Step, Is.EqualTo(40));
    }

    /// <summary>A store whose manifest create lands and then reports a failure, as a lost response would.</summary>
    private sealed class LostResponseStore(string root, Func<Exception> failure) : DelegatingStore(root)
    {
        public override async ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
        {
            await Inner.CreateExclusiveAsync(key, content, CancellationToken.None);
            if (key.EndsWith("/" + StoreKeys.ManifestFileName, StringComparison.Ordinal)) throw failure();
        }
    }

    // Defect 2: an uncertain commit deleted the shards of a manifest that had landed.
    [TestCase("io")]
    [TestCase("cancelled")]
    public async Task A_manifest_that_landed_keeps_its_shards_when_the_create_reports_a_failure(string kind)
    {
        using var dir = new TempDirectory();
        var store = new LostResponseStore(dir.Path, () => kind == "io" ? new IOException("connection reset") : new OperationCanceledException());
        using var job = new TinyTraining("sgd", "step");
        await using (var ckpt = job.Attach(TinyTraining.NewCheckpointer(store)))
        {
            job.TrainStep();
            ckpt.Step(1);
            try { await ckpt.CheckpointAsync(); }
            catch (Exception) { /* judged below by what is in the store */ }
        }
        var reader = await CheckpointReader.OpenAsync(store, "test", 1);
        Assert.That(async () => await reader.VerifyAllAsync(), Throws.Nothing, "every shard the landed manifest names is still there");
    }

    /// <summary>
    /// A store whose first manifest create stores only the first <c>keep</c> bytes and then fails, as an emulator did
    /// that accepted a request body cut short on the way and the connection then reset.
    /// </summary>
    private sealed class TruncatedCreateStore(string root, int keep) : DelegatingStore(root)
    {
        private int _manifests;

        public override async ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
        {
            if (key.EndsWith("/" + StoreKeys.ManifestFileName, StringComparison.Ordinal) && Interlocked.Increment(ref _manifests) == 1)
            {
                await Inner.CreateExclusiveAsync(key, content[..keep], CancellationToken.None);
                throw new IOException("connection reset");
            }
            await Inner.CreateExclusiveAsync(key, content, cancellationToken);
        }
    }

    // Found by the fault-injection test in CI: a failed manifest write that left a truncated manifest behind kept it,
    // a checkpoint that lists as committed but can never be read.
    [TestCase(0)]
    [TestCase(40)]
    public async Task A_failed_manifest_write_that_left_a_truncated_manifest_leaves_no_manifest(int keep)
    {
        using var dir = new TempDirectory();
        var store = new TruncatedCreateStore(dir.Path, keep);
        using var job = new TinyTraining("sgd", "step");
        await using (var ckpt = job.Attach(TinyTraining.NewCheckpointer(store)))
        {
            job.TrainStep();
            ckpt.Step(1);
            Assert.That(async () => await ckpt.CheckpointAsync(), Throws.InstanceOf<CheckpointException>(), "the commit is reported failed");
            job.TrainStep();
            ckpt.Step(2);
            Assert.That((await ckpt.CheckpointAsync())!.Step, Is.EqualTo(2), "the next checkpoint commits");
        }
        Assert.That(await store.GetLengthAsync(StoreKeys.ManifestKey("test", 1)), Is.Null, "no broken manifest is left to list as committed");
        Assert.That((await CheckpointCatalog.ListAsync(store, "test")).Select(l => l.Step), Is.EqualTo(new long[] { 2 }));
    }

    /// <summary>A store whose shard reads fail with a transient error the first <c>failures</c> times.</summary>
    private sealed class FlakyReadStore(string root) : DelegatingStore(root)
    {
        public int Failures;
        public string StepFolder = "step-00000002/";

        public override ValueTask<int> ReadAsync(string key, long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
        {
            if (key.Contains(StepFolder, StringComparison.Ordinal) && key.EndsWith(".safetensors", StringComparison.Ordinal) &&
                Interlocked.Decrement(ref Failures) >= 0)
                throw new IOException("connection reset by peer");
            return Inner.ReadAsync(key, offset, destination, cancellationToken);
        }
    }

    private static async Task CommitStepsAsync(ICheckpointStore store, params long[] steps)
    {
        using var job = new TinyTraining("adamw", "linear");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store));
        foreach (var step in steps)
        {
            job.TrainStep();
            ckpt.Step(step);
            await ckpt.CheckpointAsync();
        }
    }

    // Defect 3: a transient read error fell back at once and was labelled corrupt.
    [Test]
    public async Task A_transient_read_error_is_retried_and_the_newest_checkpoint_is_restored()
    {
        using var dir = new TempDirectory();
        var store = new FlakyReadStore(dir.Path);
        await CommitStepsAsync(store, 1, 2);
        store.Failures = 2;
        using var job = new TinyTraining("adamw", "linear", initSeed: 3);
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store));
        var resume = await ckpt.ResumeAsync();
        Assert.That(resume.Step, Is.EqualTo(2));
        Assert.That(resume.SkippedCheckpoints, Is.Empty);
    }

    [Test]
    public async Task A_read_error_that_persists_falls_back_and_is_reported_as_a_store_error_not_corruption()
    {
        using var dir = new TempDirectory();
        var store = new FlakyReadStore(dir.Path);
        await CommitStepsAsync(store, 1, 2);
        store.Failures = int.MaxValue;
        using var job = new TinyTraining("adamw", "linear", initSeed: 3);
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store));
        var resume = await ckpt.ResumeAsync();
        Assert.That(resume.Step, Is.EqualTo(1));
        Assert.That(resume.SkippedCheckpoints, Has.Count.EqualTo(1));
        Assert.That(resume.SkippedCheckpoints[0], Is.InstanceOf<CheckpointStoreException>());
    }

    // Defect 3: a restore that fails part-way (here: a bug in user state) must not be reported as a fallback.
    [Test]
    public async Task A_restore_that_fails_part_way_fails_loudly_instead_of_falling_back()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        long value = 0;
        await using (var writer = new Checkpointer(store, new CheckpointerOptions { RunId = "test", Policy = CheckpointPolicy.Manual })
            .AddState("value", () => value, v => value = v))
        {
            foreach (var step in new long[] { 1, 2 })
            {
                value = step;
                writer.Step(step);
                await writer.CheckpointAsync();
            }
        }
        await using var reader = new Checkpointer(store, new CheckpointerOptions { RunId = "test", Policy = CheckpointPolicy.Manual })
            .AddState<long>("value", () => value, v => value = v == 2 ? throw new InvalidOperationException("restore bug") : v);
        var thrown = Assert.ThrowsAsync(Is.InstanceOf<CheckpointException>(), async () => await reader.ResumeAsync());
        Assert.That(thrown, Is.Not.InstanceOf<NoUsableCheckpointException>());
        Assert.That(thrown!.Message, Does.Contain("step 2"));
        Assert.That(thrown.InnerException, Is.InstanceOf<InvalidOperationException>());
    }

    /// <summary>A store whose listings (retention's first call) wait for the test.</summary>
    private sealed class SlowListStore(string root) : DelegatingStore(root)
    {
        public readonly TaskCompletionSource Gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public volatile bool Hold;

        public override async IAsyncEnumerable<StoredObject> ListAsync(string prefix, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            if (Hold) await Gate.Task.WaitAsync(cancellationToken);
            await foreach (var o in Inner.ListAsync(prefix, cancellationToken)) yield return o;
        }
    }

    // Defect 4: retention ran inside the write task, so the commit waited for it.
    [Test]
    public async Task A_commit_is_reported_without_waiting_for_retention()
    {
        using var dir = new TempDirectory();
        var store = new SlowListStore(dir.Path);
        using var job = new TinyTraining("sgd", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store));
        await ckpt.ResumeAsync();
        store.Hold = true;
        job.TrainStep();
        ckpt.Step(1);
        var commit = ckpt.CheckpointAsync();
        var finished = await Task.WhenAny(commit, Task.Delay(Bound));
        store.Gate.TrySetResult();
        Assert.That(finished, Is.SameAs(commit), "the commit did not wait for retention's listing");
        Assert.That((await commit)!.Step, Is.EqualTo(1));
    }

    [Test]
    public void A_zero_incomplete_upload_age_is_refused()
    {
        using var dir = new TempDirectory();
        Assert.That(() => new Checkpointer(new LocalFileStore(dir.Path), new CheckpointerOptions { IncompleteUploadMaxAge = TimeSpan.Zero }),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("IncompleteUploadMaxAge"));
    }

    /// <summary>Records clean-ups of incomplete uploads and whether a shard write was open at the time.</summary>
    private sealed class CleanupWatchStore(string root) : DelegatingStore(root)
    {
        public readonly TaskCompletionSource SecondOpened = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource Release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int OpenWrites;
        public int CleanupsDuringWrites;

        public override async ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default)
        {
            if (key.Contains("step-00000002/", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref OpenWrites);
                SecondOpened.TrySetResult();
                await Release.Task.WaitAsync(cancellationToken);
                Interlocked.Decrement(ref OpenWrites);
            }
            return await Inner.OpenWriteAsync(key, cancellationToken);
        }

        public override ValueTask<int> CleanupIncompleteAsync(string prefix, TimeSpan olderThan, CancellationToken cancellationToken = default)
        {
            if (Volatile.Read(ref OpenWrites) > 0) Interlocked.Increment(ref CleanupsDuringWrites);
            return Inner.CleanupIncompleteAsync(prefix, olderThan, cancellationToken);
        }
    }

    // Defect 4: clean-up of incomplete uploads ignored steps in flight.
    [Test]
    public async Task Clean_up_of_incomplete_uploads_waits_while_a_step_is_in_flight()
    {
        using var dir = new TempDirectory();
        var store = new CleanupWatchStore(dir.Path);
        using var job = new TinyTraining("sgd", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store, configure: o => o.StagingBuffers = 2));
        await ckpt.ResumeAsync();
        job.TrainStep();
        ckpt.Step(1);
        await ckpt.CheckpointAsync();
        job.TrainStep();
        ckpt.Step(2);
        var second = ckpt.CheckpointAsync();
        await store.SecondOpened.Task.WaitAsync(Bound);
        job.TrainStep();
        ckpt.Step(3);
        Assert.That((await ckpt.CheckpointAsync().WaitAsync(Bound))!.Step, Is.EqualTo(3), "the second buffer commits step 3 while step 2 is in flight");
        store.Release.TrySetResult();
        await second.WaitAsync(Bound);
        await ckpt.FlushAsync().WaitAsync(Bound);
        Assert.That(store.CleanupsDuringWrites, Is.Zero, "no clean-up of incomplete uploads ran while step 2 was being written");
    }

    // Defect 5: directory fsync failures were ignored.
    [Test]
    public void A_directory_that_cannot_be_flushed_is_an_error()
    {
        if (OperatingSystem.IsWindows()) Assert.Ignore("directory fsync is a POSIX call");
        using var dir = new TempDirectory();
        Assert.That(() => FileSystemSync.FlushDirectory(Path.Combine(dir.Path, "missing")), Throws.InstanceOf<IOException>());
    }

    // Defect 6: two threads calling Step at once could stage into the same buffers.
    [Test]
    public async Task Concurrent_steps_from_two_threads_are_refused_with_a_clear_error()
    {
        using var dir = new TempDirectory();
        var inCapture = new ManualResetEventSlim();
        var release = new ManualResetEventSlim();
        int captures = 0;
        await using var ckpt = new Checkpointer(new LocalFileStore(dir.Path),
                new CheckpointerOptions { RunId = "test", Policy = CheckpointPolicy.EverySteps(1), StagingBuffers = 2, WhenBusy = BusyBehavior.Skip })
            .AddState("slow", () =>
            {
                if (Interlocked.Increment(ref captures) == 1)
                {
                    inCapture.Set();
                    release.Wait(Bound);
                }
                return 1;
            }, _ => { });
        var first = Task.Run(() => ckpt.Step(1));
        Assert.That(inCapture.Wait(Bound), Is.True);
        try
        {
            Assert.That(() => ckpt.Step(2), Throws.InvalidOperationException.With.Message.Contains("concurrent").IgnoreCase);
        }
        finally
        {
            release.Set();
        }
        Assert.That(await first.WaitAsync(Bound), Is.True);
    }

    // Defect 6: an unsupported dtype failed at the first due checkpoint, minutes in.
    [Test]
    public void An_unsupported_dtype_fails_at_registration_and_names_the_tensor()
    {
        var unsupported = new[] { ScalarType.ComplexFloat64, ScalarType.QInt8 }
            .Where(t => !IsSupported(t)).ToList();
        Assert.That(unsupported, Is.Not.Empty, "the test needs one dtype checkpoints cannot hold");
        using var dir = new TempDirectory();
        using var module = new TinyModule(unsupported[0]);
        using var ckpt = new DisposingCheckpointer(new Checkpointer(new LocalFileStore(dir.Path)));
        Assert.That(() => ckpt.Value.AddModule("odd", module),
            Throws.InstanceOf<UnsupportedStateException>().With.Message.Contains("odd/weird"));
    }

    private static bool IsSupported(ScalarType type)
    {
        try { TensorDtypes.NameOf(type, "x"); return true; }
        catch (UnsupportedStateException) { return false; }
    }

    private sealed class TinyModule : nn.Module
    {
        public TinyModule(ScalarType dtype) : base("tiny")
        {
            register_buffer("weird", torch.zeros(2, dtype: dtype));
        }
    }

    private sealed class DisposingCheckpointer(Checkpointer value) : IDisposable
    {
        public Checkpointer Value { get; } = value;
        public void Dispose() => Value.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    // Defect 6: with no measured checkpoint, the emergency planner waited the whole window for an in-flight write.
    [Test]
    public async Task With_nothing_measured_the_emergency_keeps_the_write_in_flight_instead_of_waiting_the_window()
    {
        using var dir = new TempDirectory();
        var store = new GatedStore(dir.Path);
        using var job = new TinyTraining("sgd", "step");
        var options = new CheckpointerOptions { RunId = "test", Policy = CheckpointPolicy.EverySteps(1) };
        options.Notices.SafetyMargin = TimeSpan.Zero;
        await using var ckpt = job.Attach(new Checkpointer(store, options));
        job.TrainStep();
        Assert.That(ckpt.Step(1), Is.True, "a periodic checkpoint, stuck in the store");
        ckpt.Notices.RequestTermination("test", TimeSpan.FromHours(1));
        job.TrainStep();
        var step = Task.Run(() => ckpt.Step(2));
        var finished = await Task.WhenAny(step, Task.Delay(Bound));
        store.Open();
        Assert.That(finished, Is.SameAs(step), "the step boundary did not wait for the window");
        var result = await ckpt.EmergencyCheckpoint!.WaitAsync(Bound);
        Assert.That(result.Checkpoint!.Step, Is.EqualTo(1));
        Assert.That(result.Plan, Does.Contain("keeping the checkpoint of step 1"));
    }
}
