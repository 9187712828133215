using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.optim.lr_scheduler;

namespace SpotCheckpoint.Tests.State;

/// <summary>
/// A tiny job for any optimizer TorchSharp ships, two parameter groups when asked, and the wrapping schedulers.
/// Every step draws its batch from the global CPU generator.
/// </summary>
internal sealed class OptimizerJob : IDisposable
{
    public static readonly string[] Optimizers =
        ["sgd", "adam", "adamw", "adamax", "nadam", "radam", "rmsprop", "adagrad", "adadelta", "asgd", "rprop", "lbfgs"];

    public OptimizerJob(string optimizer, string scheduler = "step", long initSeed = 1, bool twoGroups = false)
    {
        random.manual_seed(initSeed);
        Model = nn.Sequential(("fc1", nn.Linear(6, 12)), ("act", nn.Tanh()), ("drop", nn.Dropout(0.1)), ("head", nn.Linear(12, 3)));
        var fc1 = Model.named_parameters().Where(p => p.name.StartsWith("fc1", StringComparison.Ordinal)).Select(p => p.parameter).ToList();
        var head = Model.named_parameters().Where(p => p.name.StartsWith("head", StringComparison.Ordinal)).Select(p => p.parameter).ToList();
        var all = Model.parameters();
        Optimizer = optimizer switch
        {
            "sgd" when twoGroups => optim.SGD(
                [new SGD.ParamGroup(fc1, new SGD.Options { LearningRate = 0.05, momentum = 0.9 }),
                 new SGD.ParamGroup(head, new SGD.Options { LearningRate = 0.01, momentum = 0.5, nesterov = true })], learningRate: 0.05),
            "adam" when twoGroups => optim.Adam(
                [new Adam.ParamGroup(fc1, new Adam.Options { LearningRate = 1e-2, weight_decay = 0.1 }),
                 new Adam.ParamGroup(head, new Adam.Options { LearningRate = 3e-3, beta1 = 0.8, amsgrad = true })], lr: 1e-2),
            "sgd" => optim.SGD(all, learningRate: 0.05, momentum: 0.9, weight_decay: 1e-4),
            "adam" => optim.Adam(all, lr: 1e-2, amsgrad: true),
            "adamw" => optim.AdamW(all, lr: 1e-2, weight_decay: 0.01),
            "adamax" => optim.Adamax(all, lr: 1e-2),
            "nadam" => optim.NAdam(all, lr: 1e-2),
            "radam" => optim.RAdam(all, lr: 1e-2),
            "rmsprop" => optim.RMSProp(all, lr: 1e-3, momentum: 0.9, centered: true),
            "adagrad" => optim.Adagrad(all, lr: 0.05),
            "adadelta" => optim.Adadelta(all),
            "asgd" => optim.ASGD(all, lr: 0.01, t0: 3),
            "rprop" => optim.Rprop(all, lr: 1e-3),
            "lbfgs" => new SpotCheckpoint.State.Lbfgs(all, lr: 0.5, max_iter: 3, history_size: 4),
            _ => throw new ArgumentOutOfRangeException(nameof(optimizer)),
        };
        Scheduler = scheduler switch
        {
            "step" => StepLR(Optimizer, step_size: 3, gamma: 0.7),
            "sequential" => SequentialLR(Optimizer,
                [LinearLR(Optimizer, start_factor: 0.1, total_iters: 4), CosineAnnealingLR(Optimizer, T_max: 10)], [4]),
            "chained" => ChainedLR([StepLR(Optimizer, step_size: 3, gamma: 0.5), ExponentialLR(Optimizer, gamma: 0.9)]),
            _ => throw new ArgumentOutOfRangeException(nameof(scheduler)),
        };
    }

    public nn.Module<Tensor, Tensor> Model { get; }
    public optim.Optimizer Optimizer { get; }
    public LRScheduler Scheduler { get; }

    public void TrainStep()
    {
        using var scope = NewDisposeScope();
        Model.train();
        var x = randn(8, 6);
        var y = randint(0, 3, [8]);
        Tensor Loss()
        {
            Optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(Model.forward(x), y);
            loss.backward();
            return loss;
        }
        if (Optimizer is SpotCheckpoint.State.Lbfgs) Optimizer.step(Loss);
        else { Loss(); Optimizer.step(); }
        Scheduler.step();
    }

    public Checkpointer Attach(Checkpointer checkpointer) => checkpointer
        .AddModule("model", Model)
        .AddOptimizer("optimizer", Optimizer)
        .AddScheduler("scheduler", Scheduler);

    public static Checkpointer NewCheckpointer(ICheckpointStore store) =>
        new(store, new CheckpointerOptions { RunId = "test", Policy = CheckpointPolicy.Manual });

    /// <summary>Trains <paramref name="stopAt"/> steps, checkpoints, resumes into a fresh job and trains on to
    /// <paramref name="total"/>; returns that hash and the hash of a straight run.</summary>
    public static async Task<(string Straight, string Resumed)> StraightAndResumedAsync(
        Func<long, OptimizerJob> create, int stopAt, int total)
    {
        string straight;
        using (var job = create(1))
        {
            using var dir = new TempDirectory();
            await using var ckpt = job.Attach(NewCheckpointer(new LocalFileStore(dir.Path)));
            for (int i = 0; i < total; i++) job.TrainStep();
            straight = ckpt.ComputeStateSha256();
        }
        using var store = new TempDirectory();
        using (var first = create(1))
        {
            await using var ckpt = first.Attach(NewCheckpointer(new LocalFileStore(store.Path)));
            for (int i = 0; i < stopAt; i++) first.TrainStep();
            ckpt.Step(stopAt);
            await ckpt.CheckpointAsync();
        }
        using var second = create(999); // different initial weights: everything must come from the checkpoint
        await using var resumed = second.Attach(NewCheckpointer(new LocalFileStore(store.Path)));
        var result = await resumed.ResumeAsync();
        Assert.That(result.Step, Is.EqualTo(stopAt));
        for (int i = stopAt; i < total; i++) second.TrainStep();
        return (straight, resumed.ComputeStateSha256());
    }

    public void Dispose()
    {
        Model.Dispose();
        Optimizer.Dispose();
    }
}
