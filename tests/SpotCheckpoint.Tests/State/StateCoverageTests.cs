using System.Text.Json;
using SpotCheckpoint.Storage;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.optim.lr_scheduler;

namespace SpotCheckpoint.Tests.State;

public class StateCoverageTests
{
    [TestCaseSource(typeof(OptimizerJob), nameof(OptimizerJob.Optimizers))]
    public async Task Every_optimizer_resumes_bit_identically(string optimizer)
    {
        var (straight, resumed) = await OptimizerJob.StraightAndResumedAsync(seed => new OptimizerJob(optimizer, initSeed: seed), stopAt: 7, total: 12);
        Assert.That(resumed, Is.EqualTo(straight));
    }

    [TestCase("sequential")]
    [TestCase("chained")]
    public async Task Wrapping_schedulers_resume_with_their_inner_schedulers(string scheduler)
    {
        // Stop inside the warm-up (step 3) and after the milestone (step 6).
        foreach (var stopAt in new[] { 3, 6 })
        {
            var (straight, resumed) = await OptimizerJob.StraightAndResumedAsync(seed => new OptimizerJob("adamw", scheduler, seed), stopAt, total: 10);
            Assert.That(resumed, Is.EqualTo(straight), $"stop at {stopAt}");
        }
    }

    [TestCase("sgd")]
    [TestCase("adam")]
    public async Task Two_parameter_groups_keep_their_own_options(string optimizer)
    {
        var (straight, resumed) = await OptimizerJob.StraightAndResumedAsync(seed => new OptimizerJob(optimizer, initSeed: seed, twoGroups: true), stopAt: 5, total: 9);
        Assert.That(resumed, Is.EqualTo(straight));

        // The options come back per group, from the checkpoint, not from the constructor.
        using var dir = new TempDirectory();
        using (var job = new OptimizerJob(optimizer, twoGroups: true))
        {
            await using var ckpt = job.Attach(OptimizerJob.NewCheckpointer(new LocalFileStore(dir.Path)));
            job.TrainStep();
            job.Optimizer.ParamGroups.Last().LearningRate = 0.123;
            await ckpt.CheckpointAsync();
        }
        using var fresh = new OptimizerJob(optimizer, twoGroups: true);
        await using var restored = fresh.Attach(OptimizerJob.NewCheckpointer(new LocalFileStore(dir.Path)));
        await restored.ResumeAsync();
        var lrs = fresh.Optimizer.ParamGroups.Select(g => g.LearningRate).ToList();
        Assert.That(lrs[1], Is.EqualTo(0.123));
        Assert.That(lrs[0], Is.Not.EqualTo(0.123));
    }

    [Test]
    public void TorchSharps_native_LBFGS_is_refused_with_the_managed_alternative_named()
    {
        using var dir = new TempDirectory();
        using var model = nn.Linear(3, 2);
        using var lbfgs = optim.LBFGS(model.parameters());
        var ckpt = OptimizerJob.NewCheckpointer(new LocalFileStore(dir.Path)).AddModule("model", model);
        var ex = Assert.Throws<UnsupportedStateException>(() => ckpt.AddOptimizer("optimizer", lbfgs));
        Assert.That(ex!.Message, Does.Contain("SpotCheckpoint.State.Lbfgs"));
    }

    private sealed class TiedModel : nn.Module<Tensor, Tensor>
    {
        public readonly Embedding embed;
        public readonly Linear head;

        public TiedModel() : base(nameof(TiedModel))
        {
            embed = nn.Embedding(10, 4);
            head = nn.Linear(4, 10, hasBias: false);
            head.weight = embed.weight!; // weight tying: one Parameter, two modules
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => head.forward(embed.forward(x));
    }

    private static JsonElement Manifest(string root) =>
        JsonDocument.Parse(File.ReadAllText(Directory.GetFiles(root, "manifest.json", SearchOption.AllDirectories).Single())).RootElement.GetProperty("manifest");

    private static List<string> TensorNames(JsonElement manifest) =>
        manifest.GetProperty("tensors").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToList();

    [Test]
    public async Task A_tied_weight_is_saved_once_and_restored_to_both_modules()
    {
        using var dir = new TempDirectory();
        random.manual_seed(3);
        using var model = new TiedModel();
        using var opt = optim.Adam(model.parameters(), lr: 0.1);
        await using (var ckpt = OptimizerJob.NewCheckpointer(new LocalFileStore(dir.Path)).AddModule("model", model).AddOptimizer("optimizer", opt))
        {
            opt.zero_grad();
            model.forward(tensor(new long[] { 1, 2, 3 })).sum().backward();
            opt.step();
            await ckpt.CheckpointAsync();
        }
        var names = TensorNames(Manifest(dir.Path));
        Assert.That(names.Count(n => n.StartsWith("model/", StringComparison.Ordinal)), Is.EqualTo(1), string.Join(", ", names));
        // TorchSharp's native Embedding hands out a new wrapper for its weight, so parameters() lists the tied weight
        // twice and Adam keeps a state for each: both are captured, keyed by their names.
        Assert.That(names.Count(n => n.StartsWith("optimizer/exp_avg/", StringComparison.Ordinal)), Is.EqualTo(opt.parameters().Count()));

        random.manual_seed(77);
        using var fresh = new TiedModel();
        using var freshOpt = optim.Adam(fresh.parameters(), lr: 0.1);
        await using var restored = OptimizerJob.NewCheckpointer(new LocalFileStore(dir.Path)).AddModule("model", fresh).AddOptimizer("optimizer", freshOpt);
        await restored.ResumeAsync();
        // Compare the restored values first, then check the tie survived: a change through one module shows in the other.
        Assert.That(fresh.embed.weight!.bytes.ToArray(), Is.EqualTo(model.embed.weight!.bytes.ToArray()));
        Assert.That(fresh.head.weight!.bytes.ToArray(), Is.EqualTo(model.embed.weight!.bytes.ToArray()));
        using (no_grad()) fresh.embed.weight!.fill_(0.5);
        Assert.That(fresh.head.weight!.bytes.ToArray(), Is.EqualTo(fresh.embed.weight!.bytes.ToArray()), "still tied");
    }

    [Test]
    public async Task A_parameter_shared_by_two_registered_modules_is_saved_once()
    {
        using var dir = new TempDirectory();
        random.manual_seed(4);
        using var embed = nn.Embedding(8, 3);
        using var head = nn.Linear(3, 8, hasBias: false);
        head.weight = embed.weight!;
        await using (var ckpt = OptimizerJob.NewCheckpointer(new LocalFileStore(dir.Path)).AddModule("encoder", embed).AddModule("decoder", head))
            await ckpt.CheckpointAsync();
        var manifest = Manifest(dir.Path);
        Assert.That(TensorNames(manifest).Where(n => n != "rng/cpu"), Is.EqualTo(new[] { "encoder/weight" }));

        random.manual_seed(5);
        using var embed2 = nn.Embedding(8, 3);
        using var head2 = nn.Linear(3, 8, hasBias: false); // not tied here: both still get the saved weight
        await using var restored = OptimizerJob.NewCheckpointer(new LocalFileStore(dir.Path)).AddModule("encoder", embed2).AddModule("decoder", head2);
        await restored.ResumeAsync();
        Assert.That(embed2.weight!.bytes.ToArray(), Is.EqualTo(embed.weight!.bytes.ToArray()));
        Assert.That(head2.weight!.bytes.ToArray(), Is.EqualTo(embed.weight!.bytes.ToArray()));
    }

    [Test]
    public async Task Frozen_parameters_no_optimizer_holds_are_saved_and_restored()
    {
        using var dir = new TempDirectory();
        random.manual_seed(6);
        var model = nn.Sequential(("frozen", nn.Linear(4, 4)), ("head", nn.Linear(4, 2)));
        foreach (var p in model.named_parameters().Where(p => p.name.StartsWith("frozen", StringComparison.Ordinal))) p.parameter.requires_grad = false;
        using var opt = optim.SGD(model.parameters().Where(p => p.requires_grad), learningRate: 0.1, momentum: 0.9);
        await using (var ckpt = OptimizerJob.NewCheckpointer(new LocalFileStore(dir.Path)).AddModule("model", model).AddOptimizer("optimizer", opt))
        {
            opt.zero_grad();
            model.forward(randn(3, 4)).sum().backward();
            opt.step();
            await ckpt.CheckpointAsync();
        }
        var names = TensorNames(Manifest(dir.Path));
        Assert.That(names, Does.Contain("model/frozen.weight"));
        Assert.That(names.Where(n => n.StartsWith("optimizer/", StringComparison.Ordinal)).Any(n => n.Contains("frozen")), Is.False);

        random.manual_seed(60);
        var fresh = nn.Sequential(("frozen", nn.Linear(4, 4)), ("head", nn.Linear(4, 2)));
        using var freshOpt = optim.SGD(fresh.parameters().Where(p => p.requires_grad).Skip(2), learningRate: 0.1, momentum: 0.9);
        await using var restored = OptimizerJob.NewCheckpointer(new LocalFileStore(dir.Path)).AddModule("model", fresh).AddOptimizer("optimizer", freshOpt);
        await restored.ResumeAsync();
        var saved = model.state_dict();
        foreach (var (key, t) in fresh.state_dict()) Assert.That(t.bytes.ToArray(), Is.EqualTo(saved[key].bytes.ToArray()), key);
    }

    private sealed class Holder : nn.Module
    {
        public Holder(Tensor value) : base(nameof(Holder)) => register_buffer("value", value);
    }

    private static Tensor Sample(ScalarType dtype)
    {
        random.manual_seed(8);
        return dtype switch
        {
            ScalarType.Bool => rand(5, 3) > 0.5,
            ScalarType.Byte or ScalarType.Int8 or ScalarType.Int16 or ScalarType.Int32 or ScalarType.Int64 =>
                randint(-100, 100, [5, 3]).to_type(ScalarType.Int64).to_type(dtype),
            ScalarType.ComplexFloat32 => complex(randn(5, 3), randn(5, 3)),
            _ => randn(5, 3).to_type(dtype),
        };
    }

    private static IEnumerable<ScalarType> SupportedTypes() => SpotCheckpoint.Format.TensorDtypes.Supported;

    [TestCaseSource(nameof(SupportedTypes))]
    public async Task Every_supported_dtype_round_trips_bit_exactly(ScalarType dtype)
    {
        using var dir = new TempDirectory();
        using var original = Sample(dtype);
        using var holder = new Holder(original.clone());
        await using (var ckpt = OptimizerJob.NewCheckpointer(new LocalFileStore(dir.Path)).AddModule("m", holder))
            await ckpt.CheckpointAsync();
        using var target = new Holder(zeros_like(original));
        await using var restored = OptimizerJob.NewCheckpointer(new LocalFileStore(dir.Path)).AddModule("m", target);
        await restored.ResumeAsync();
        var value = target.state_dict()["value"];
        Assert.That(value.dtype, Is.EqualTo(dtype));
        Assert.That(value.bytes.ToArray(), Is.EqualTo(original.bytes.ToArray()));
    }

    [Test]
    public void A_dtype_safetensors_cannot_name_is_refused_at_registration_naming_the_tensor()
    {
        using var dir = new TempDirectory();
        using var holder = new Holder(zeros(2, dtype: ScalarType.ComplexFloat64));
        var ckpt = OptimizerJob.NewCheckpointer(new LocalFileStore(dir.Path));
        var ex = Assert.Throws<UnsupportedStateException>(() => ckpt.AddModule("m", holder));
        Assert.That(ex!.Message, Does.Contain("m/value").And.Contain("ComplexFloat64"));
        Assert.That(SpotCheckpoint.Format.TensorDtypes.IsSupported(ScalarType.ComplexFloat64), Is.False);
        Assert.That(SpotCheckpoint.Format.TensorDtypes.IsSupported(ScalarType.BFloat16), Is.True);
    }
}
