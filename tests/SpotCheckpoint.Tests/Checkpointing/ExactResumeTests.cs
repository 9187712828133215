using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Checkpointing;

public class ExactResumeTests
{
    private static string StraightRunHash(string optimizer, string scheduler)
    {
        using var dir = new TempDirectory();
        using var job = new TinyTraining(optimizer, scheduler);
        var store = new LocalFileStore(dir.Path);
        var ckpt = job.Attach(TinyTraining.NewCheckpointer(store));
        for (long step = 1; step <= TinyTraining.TotalSteps; step++)
        {
            job.TrainStep();
            ckpt.Step(step);
        }
        return ckpt.ComputeStateSha256();
    }

    /// <summary>Stops at <paramref name="stopAt"/> with a final checkpoint, then resumes with fresh objects.</summary>
    private static async Task<string> StoppedAndResumedHash(string optimizer, string scheduler, long stopAt, long every)
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using (var first = new TinyTraining(optimizer, scheduler))
        {
            await using var ckpt = first.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(every)));
            Assert.That((await ckpt.ResumeAsync()).Resumed, Is.False);
            for (long step = 1; step <= stopAt; step++)
            {
                first.TrainStep();
                ckpt.Step(step);
            }
            await ckpt.CheckpointAsync();
        }

        // A new "process": different initial weights, prove everything comes from the checkpoint.
        using var second = new TinyTraining(optimizer, scheduler, initSeed: 999);
        await using var resumed = second.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(every)));
        var result = await resumed.ResumeAsync();
        Assert.That(result.Resumed, Is.True);
        Assert.That(result.Step, Is.EqualTo(stopAt));
        Assert.That(second.DataCursor, Is.EqualTo(stopAt), "user state is restored");
        for (long step = result.Step + 1; step <= TinyTraining.TotalSteps; step++)
        {
            second.TrainStep();
            resumed.Step(step);
        }
        return resumed.ComputeStateSha256();
    }

    private static IEnumerable<TestCaseData> AllCombinations() =>
        from o in TinyTraining.Optimizers
        from s in TinyTraining.Schedulers
        select new TestCaseData(o, s).SetName($"Resume_is_bit_identical_{o}_{s}");

    [TestCaseSource(nameof(AllCombinations))]
    public async Task Resume_is_bit_identical(string optimizer, string scheduler)
    {
        var straight = StraightRunHash(optimizer, scheduler);
        // Stop between periodic checkpoints (7) and right after one (10).
        Assert.That(await StoppedAndResumedHash(optimizer, scheduler, stopAt: 7, every: 5), Is.EqualTo(straight));
        Assert.That(await StoppedAndResumedHash(optimizer, scheduler, stopAt: 10, every: 5), Is.EqualTo(straight));
    }

    [Test]
    public async Task A_crash_between_checkpoints_resumes_from_the_last_committed_step()
    {
        var straight = StraightRunHash("adamw", "onecycle");
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using (var first = new TinyTraining("adamw", "onecycle"))
        {
            await using var ckpt = first.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(4)));
            for (long step = 1; step <= 14; step++)
            {
                first.TrainStep();
                ckpt.Step(step);
            }
            // No final checkpoint: steps 13 and 14 are lost, as in a kill.
        }
        using var second = new TinyTraining("adamw", "onecycle", initSeed: 5);
        await using var resumed = second.Attach(TinyTraining.NewCheckpointer(store));
        var result = await resumed.ResumeAsync();
        Assert.That(result.Step, Is.EqualTo(12));
        for (long step = 13; step <= TinyTraining.TotalSteps; step++)
        {
            second.TrainStep();
            resumed.Step(step);
        }
        Assert.That(resumed.ComputeStateSha256(), Is.EqualTo(straight));
    }

    [Test]
    public async Task Restore_keeps_parameter_objects_so_the_optimizer_stays_bound()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using (var first = new TinyTraining("adam", "step"))
        {
            await using var ckpt = first.Attach(TinyTraining.NewCheckpointer(store));
            first.TrainStep();
            ckpt.Step(1);
            await ckpt.CheckpointAsync();
        }
        using var second = new TinyTraining("adam", "step", initSeed: 3);
        var before = second.Model.parameters().Select(p => p.Handle).ToList();
        await using var resumed = second.Attach(TinyTraining.NewCheckpointer(store));
        await resumed.ResumeAsync();
        Assert.That(second.Model.parameters().Select(p => p.Handle).ToList(), Is.EqualTo(before));
        Assert.That(second.Optimizer.parameters().Select(p => p.Handle).ToList(), Is.EqualTo(before));
    }

    [Test]
    public async Task Resume_inside_a_user_dispose_scope_leaves_optimizer_state_alive()
    {
        var straight = StraightRunHash("sgd", "step");
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using (var first = new TinyTraining("sgd", "step"))
        {
            await using var ckpt = first.Attach(TinyTraining.NewCheckpointer(store));
            for (long step = 1; step <= 6; step++) { first.TrainStep(); ckpt.Step(step); }
            await ckpt.CheckpointAsync();
        }
        // A fresh SGD has no momentum buffers; the restore allocates them inside the caller's scope.
        using var second = new TinyTraining("sgd", "step", initSeed: 8);
        await using var resumed = second.Attach(TinyTraining.NewCheckpointer(store));
        using (TorchSharp.torch.NewDisposeScope())
        {
            resumed.ResumeAsync().GetAwaiter().GetResult();
        }
        for (long step = 7; step <= TinyTraining.TotalSteps; step++) { second.TrainStep(); resumed.Step(step); }
        Assert.That(resumed.ComputeStateSha256(), Is.EqualTo(straight));
    }
}
