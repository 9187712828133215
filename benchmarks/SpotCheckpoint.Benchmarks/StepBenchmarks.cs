using BenchmarkDotNet.Attributes;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Benchmarks;

/// <summary>
/// The per-step cost of <see cref="Checkpointer.Step"/> when no checkpoint is due: it sits on the training hot path
/// and must be O(1) and allocation-free.
/// </summary>
[MemoryDiagnoser]
public class StepBenchmarks
{
    private Checkpointer _steps = null!;
    private Checkpointer _interval = null!;
    private nn.Module<Tensor, Tensor> _model = null!;
    private string _dir = "";
    private long _step;

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "spotckpt-bdn-" + Guid.NewGuid().ToString("N")[..8]);
        _model = BenchModels.Mlp(2, 64);
        _steps = new Checkpointer(new LocalFileStore(_dir), new CheckpointerOptions { RunId = "a", Policy = CheckpointPolicy.EverySteps(long.MaxValue) })
            .AddModule("model", _model);
        _interval = new Checkpointer(new LocalFileStore(_dir), new CheckpointerOptions { RunId = "b", Policy = CheckpointPolicy.Every(TimeSpan.FromDays(1)) })
            .AddModule("model", _model);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _steps.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _interval.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_dir, true);
    }

    /// <summary>Step with a step-count policy, not due.</summary>
    [Benchmark(Baseline = true)]
    public bool StepPolicyNotDue() => _steps.Step(++_step);

    /// <summary>Step with a time-based policy, not due.</summary>
    [Benchmark]
    public bool IntervalPolicyNotDue() => _interval.Step(++_step);
}
