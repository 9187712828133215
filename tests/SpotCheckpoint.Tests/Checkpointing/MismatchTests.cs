using SpotCheckpoint.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Tests.Checkpointing;

public class MismatchTests
{
    private TempDirectory _dir = null!;
    private LocalFileStore _store = null!;

    [SetUp]
    public async Task WriteOneCheckpoint()
    {
        _dir = new TempDirectory();
        _store = new LocalFileStore(_dir.Path);
        using var job = new TinyTraining("adamw", "cosine");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(_store));
        job.TrainStep();
        ckpt.Step(1);
        await ckpt.CheckpointAsync();
    }

    [TearDown]
    public async Task Cleanup()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    private static List<byte[]> Snapshot(nn.Module module) =>
        module.parameters().Select(p => p.detach().clone().bytes.ToArray()).ToList();

    [Test]
    public void A_model_of_another_shape_is_refused_naming_the_tensor_and_left_unchanged()
    {
        using var job = new TinyTraining("adamw", "cosine", hidden: 32);
        var before = Snapshot(job.Model);
        var ckpt = job.Attach(TinyTraining.NewCheckpointer(_store));
        var ex = Assert.ThrowsAsync<CheckpointMismatchException>(() => ckpt.ResumeAsync());
        Assert.That(ex!.TensorName, Is.EqualTo("model/fc1.weight"));
        Assert.That(ex.Message, Does.Contain("shape [16, 8]").And.Contain("[32, 8]"));
        Assert.That(Snapshot(job.Model), Is.EqualTo(before), "nothing is written before every check passed");
    }

    [Test]
    public void A_model_of_another_dtype_is_refused_naming_the_tensor()
    {
        using var job = new TinyTraining("adamw", "cosine", dtype: ScalarType.Float64);
        var ckpt = job.Attach(TinyTraining.NewCheckpointer(_store));
        var ex = Assert.ThrowsAsync<CheckpointMismatchException>(() => ckpt.ResumeAsync());
        Assert.That(ex!.TensorName, Is.EqualTo("model/fc1.weight"));
        Assert.That(ex.Message, Does.Contain("F32").And.Contain("F64"));
    }

    [Test]
    public void A_model_with_other_names_is_refused_naming_the_tensor()
    {
        using var job = new TinyTraining("adamw", "cosine");
        var renamed = nn.Sequential(("first", nn.Linear(8, 16)), ("norm", nn.BatchNorm1d(16)), ("head", nn.Linear(16, 3)));
        var optimizer = optim.AdamW(renamed.parameters());
        var ckpt = TinyTraining.NewCheckpointer(_store)
            .AddModule("model", renamed).AddOptimizer("optimizer", optimizer)
            .AddScheduler("scheduler", job.Scheduler).AddState("cursor", () => 0L, _ => { });
        var ex = Assert.ThrowsAsync<CheckpointMismatchException>(() => ckpt.ResumeAsync());
        Assert.That(ex!.TensorName, Is.EqualTo("model/fc1.weight").Or.EqualTo("model/first.weight"));
    }

    [Test]
    public void Another_optimizer_kind_is_refused()
    {
        using var job = new TinyTraining("adam", "cosine");
        var ckpt = job.Attach(TinyTraining.NewCheckpointer(_store));
        var ex = Assert.ThrowsAsync<CheckpointMismatchException>(() => ckpt.ResumeAsync());
        Assert.That(ex!.Message, Does.Contain("AdamW").And.Contain("Adam"));
    }

    [Test]
    public void A_checkpoint_with_an_unregistered_scheduler_is_refused()
    {
        using var job = new TinyTraining("adamw", "cosine");
        var ckpt = TinyTraining.NewCheckpointer(_store)
            .AddModule("model", job.Model).AddOptimizer("optimizer", job.Optimizer).AddState("cursor", () => 0L, _ => { });
        var ex = Assert.ThrowsAsync<CheckpointMismatchException>(() => ckpt.ResumeAsync());
        Assert.That(ex!.TensorName, Is.EqualTo("scheduler"));
    }

    [Test]
    public async Task A_different_cuda_seed_is_refused()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        using (var job = new TinyTraining("adamw", "cosine"))
        {
            await using var seeded = job.Attach(TinyTraining.NewCheckpointer(store, configure: o => o.CudaSeed = 1));
            job.TrainStep();
            seeded.Step(2);
            await seeded.CheckpointAsync();
        }
        using var other = new TinyTraining("adamw", "cosine");
        var ckpt = other.Attach(TinyTraining.NewCheckpointer(store, configure: o => o.CudaSeed = 2));
        var ex = Assert.ThrowsAsync<CheckpointMismatchException>(() => ckpt.ResumeAsync());
        Assert.That(ex!.Message, Does.Contain("CudaSeed 1"));
    }

    [Test]
    public async Task A_newest_checkpoint_that_does_not_fit_is_skipped_when_an_older_one_fits()
    {
        // Step 1 (from SetUp) fits; step 2 is written by a model with another hidden size.
        using (var wide = new TinyTraining("adamw", "cosine", hidden: 32))
        {
            await using var other = wide.Attach(TinyTraining.NewCheckpointer(_store));
            wide.TrainStep();
            other.Step(2);
            await other.CheckpointAsync();
        }
        using var job = new TinyTraining("adamw", "cosine");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(_store));
        var result = await ckpt.ResumeAsync();
        Assert.That(result.Step, Is.EqualTo(1));
        Assert.That(result.SkippedCheckpoints.Single(), Is.TypeOf<CheckpointMismatchException>());
    }

    [Test]
    public void Missing_user_state_is_refused()
    {
        using var job = new TinyTraining("adamw", "cosine");
        var ckpt = job.Attach(TinyTraining.NewCheckpointer(_store)).AddState("loader", () => 1, _ => { });
        var ex = Assert.ThrowsAsync<CheckpointMismatchException>(() => ckpt.ResumeAsync());
        Assert.That(ex!.TensorName, Is.EqualTo("loader"));
    }
}
