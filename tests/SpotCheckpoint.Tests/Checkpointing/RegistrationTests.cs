using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.optim.lr_scheduler;

namespace SpotCheckpoint.Tests.Checkpointing;

public class RegistrationTests
{
    [Test]
    public void An_optimizer_whose_state_lives_in_native_code_is_refused_with_a_clear_error()
    {
        // Every managed optimizer is captured (tests/SpotCheckpoint.Tests/State); TorchSharp's LBFGS is native.
        using var dir = new TempDirectory();
        using var job = new TinyTraining("sgd", "step");
        using var lbfgs = optim.LBFGS(job.Model.parameters());
        var ckpt = TinyTraining.NewCheckpointer(new LocalFileStore(dir.Path)).AddModule("model", job.Model);
        var ex = Assert.Throws<UnsupportedStateException>(() => ckpt.AddOptimizer("optimizer", lbfgs));
        Assert.That(ex!.Message, Does.Contain("LBFGS").And.Contain("native"));
    }

    [Test]
    public void An_optimizer_over_unregistered_parameters_fails_the_checkpoint_with_a_clear_error()
    {
        using var dir = new TempDirectory();
        using var job = new TinyTraining("adam", "step");
        var ckpt = TinyTraining.NewCheckpointer(new LocalFileStore(dir.Path)).AddOptimizer("optimizer", job.Optimizer);
        var ex = Assert.ThrowsAsync<UnsupportedStateException>(() => ckpt.CheckpointAsync());
        Assert.That(ex!.Message, Does.Contain("register its module"));
    }

    [TestCase("")]
    [TestCase("a/b")]
    [TestCase("rng")]
    public void Bad_registration_names_are_refused(string name)
    {
        using var dir = new TempDirectory();
        using var job = new TinyTraining("adam", "step");
        var ckpt = TinyTraining.NewCheckpointer(new LocalFileStore(dir.Path));
        Assert.Throws<ArgumentException>(() => ckpt.AddModule(name, job.Model));
    }

    [Test]
    public void Duplicate_names_are_refused()
    {
        using var dir = new TempDirectory();
        using var job = new TinyTraining("adam", "step");
        var ckpt = TinyTraining.NewCheckpointer(new LocalFileStore(dir.Path)).AddModule("model", job.Model);
        Assert.Throws<ArgumentException>(() => ckpt.AddState("model", () => 1, _ => { }));
    }

    [Test]
    public async Task Registration_closes_once_training_started()
    {
        using var dir = new TempDirectory();
        using var job = new TinyTraining("adam", "step");
        await using var ckpt = TinyTraining.NewCheckpointer(new LocalFileStore(dir.Path)).AddModule("model", job.Model);
        ckpt.Step(1);
        Assert.Throws<InvalidOperationException>(() => ckpt.AddState("late", () => 1, _ => { }));
    }

    [TestCase("bad/run")]
    [TestCase("")]
    [TestCase(".hidden")]
    public void Bad_run_ids_are_refused(string runId)
    {
        using var dir = new TempDirectory();
        Assert.Throws<ArgumentException>(() => new Checkpointer(new LocalFileStore(dir.Path), new CheckpointerOptions { RunId = runId }));
    }

    [Test]
    public void Out_of_range_options_are_refused_naming_the_option()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        Assert.That(() => new Checkpointer(store, new CheckpointerOptions { KeepLast = 0 }),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("KeepLast"));
        Assert.That(() => new Checkpointer(store, new CheckpointerOptions { StagingBuffers = 0 }),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("StagingBuffers"));
        Assert.That(() => new Checkpointer(store, new CheckpointerOptions { MaxShardBytes = 10 }),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("MaxShardBytes"));
        Assert.That(() => CheckpointPolicy.EverySteps(0), Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => CheckpointPolicy.Every(TimeSpan.Zero), Throws.TypeOf<ArgumentOutOfRangeException>());
    }
}
