using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Tests.Checkpointing;

/// <summary>
/// Fine-tuning in miniature: a frozen base layer (about 4.8 MB, two chunks) that no optimizer holds, and a small
/// trainable head with Adam. Each step draws its batch from the global CPU generator.
/// </summary>
internal sealed class FrozenBaseTraining : IDisposable
{
    public const int Width = 1100;

    public FrozenBaseTraining(long initSeed = 1)
    {
        random.manual_seed(initSeed);
        Base = nn.Linear(Width, Width);
        Head = nn.Linear(Width, 4);
        Model = nn.Sequential(("base", Base), ("act", nn.ReLU()), ("head", Head));
        foreach (var p in Base.parameters()) p.requires_grad = false;
        Optimizer = optim.Adam(Head.parameters(), lr: 1e-2);
    }

    public nn.Module<Tensor, Tensor> Model { get; }
    public nn.Module<Tensor, Tensor> Base { get; }
    public nn.Module<Tensor, Tensor> Head { get; }
    public optim.Optimizer Optimizer { get; }

    /// <summary>Bytes of the frozen base's parameters.</summary>
    public static long BaseBytes => (Width * (long)Width + Width) * 4;

    public void TrainStep()
    {
        using var scope = NewDisposeScope();
        var x = randn(8, Width);
        var y = randint(0, 4, [8]);
        Optimizer.zero_grad();
        nn.functional.cross_entropy(Model.forward(x), y).backward();
        Optimizer.step();
    }

    public Checkpointer Attach(Checkpointer checkpointer) => checkpointer
        .AddModule("model", Model)
        .AddOptimizer("optimizer", Optimizer);

    public static Checkpointer NewCheckpointer(ICheckpointStore store, Action<CheckpointerOptions>? configure = null)
    {
        var options = new CheckpointerOptions { RunId = "test", Policy = CheckpointPolicy.Manual, Incremental = true };
        configure?.Invoke(options);
        return new Checkpointer(store, options);
    }

    public void Dispose()
    {
        Model.Dispose();
        Optimizer.Dispose();
    }
}
