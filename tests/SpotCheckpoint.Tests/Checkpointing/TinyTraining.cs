using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.optim.lr_scheduler;

namespace SpotCheckpoint.Tests.Checkpointing;

/// <summary>
/// A small but complete training job: MLP with batch norm (buffers, an int64 counter) and dropout (RNG), an
/// optimizer, a scheduler and a data cursor. Every step draws its batch from the global CPU generator.
/// </summary>
internal sealed class TinyTraining : IDisposable
{
    public const long TotalSteps = 24;

    public TinyTraining(string optimizer, string scheduler, long initSeed = 1, int hidden = 16, ScalarType dtype = ScalarType.Float32)
    {
        random.manual_seed(initSeed);
        Model = nn.Sequential(
            ("fc1", nn.Linear(8, hidden)),
            ("norm", nn.BatchNorm1d(hidden)),
            ("act", nn.ReLU()),
            ("drop", nn.Dropout(0.2)),
            ("head", nn.Linear(hidden, 3)));
        if (dtype != ScalarType.Float32) Model.to(dtype);
        Optimizer = optimizer switch
        {
            "sgd" => optim.SGD(Model.parameters(), learningRate: 0.05, momentum: 0.9, weight_decay: 1e-4),
            "adam" => optim.Adam(Model.parameters(), lr: 1e-2, amsgrad: true),
            "adamw" => optim.AdamW(Model.parameters(), lr: 1e-2, weight_decay: 0.01),
            "rmsprop" => optim.RMSProp(Model.parameters()),
            _ => throw new ArgumentOutOfRangeException(nameof(optimizer)),
        };
        Scheduler = scheduler switch
        {
            "step" => StepLR(Optimizer, step_size: 5, gamma: 0.5),
            "multistep" => MultiStepLR(Optimizer, milestones: [6, 13], gamma: 0.3),
            "exponential" => ExponentialLR(Optimizer, gamma: 0.9),
            "cosine" => CosineAnnealingLR(Optimizer, T_max: (int)TotalSteps, eta_min: 1e-4),
            "onecycle" => OneCycleLR(Optimizer, max_lr: 0.05, total_steps: (int)TotalSteps + 1),
            "lambda" => LambdaLR(Optimizer, e => 1.0 / (1.0 + 0.1 * e)),
            "linear" => LinearLR(Optimizer, start_factor: 0.2, end_factor: 1.0, total_iters: 10),
            _ => throw new ArgumentOutOfRangeException(nameof(scheduler)),
        };
    }

    public nn.Module<Tensor, Tensor> Model { get; }
    public optim.Optimizer Optimizer { get; }
    public LRScheduler Scheduler { get; }
    public long DataCursor { get; set; }

    public static readonly string[] Optimizers = ["sgd", "adam", "adamw"];
    public static readonly string[] Schedulers = ["step", "multistep", "exponential", "cosine", "onecycle", "lambda", "linear"];

    public void TrainStep()
    {
        using var scope = NewDisposeScope();
        Model.train();
        var x = randn(16, 8, dtype: Model.parameters().First().dtype);
        var y = randint(0, 3, [16]);
        Optimizer.zero_grad();
        var loss = nn.functional.cross_entropy(Model.forward(x), y);
        loss.backward();
        Optimizer.step();
        Scheduler.step();
        DataCursor++;
    }

    public Checkpointer Attach(Checkpointer checkpointer) => checkpointer
        .AddModule("model", Model)
        .AddOptimizer("optimizer", Optimizer)
        .AddScheduler("scheduler", Scheduler)
        .AddState("cursor", () => DataCursor, v => DataCursor = v);

    public static Checkpointer NewCheckpointer(ICheckpointStore store, CheckpointPolicy? policy = null, Action<CheckpointerOptions>? configure = null)
    {
        var options = new CheckpointerOptions { RunId = "test", Policy = policy ?? CheckpointPolicy.Manual };
        configure?.Invoke(options);
        return new Checkpointer(store, options);
    }

    public void Dispose()
    {
        Model.Dispose();
        Optimizer.Dispose();
    }
}
