using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Cli.Tests;

/// <summary>
/// A tiny TorchSharp training job (MLP with dropout, AdamW, StepLR, a data cursor) checkpointed into a store, so the
/// verbs have real checkpoints to work on. Keeps the state hash at every checkpointed step.
/// </summary>
internal sealed class TrainingRun : IDisposable
{
    private long _cursor;

    /// <param name="freezeFc1">Freeze fc1 (a frozen base for incremental checkpoints): requires_grad off, out of the optimizer.</param>
    public TrainingRun(bool freezeFc1 = false)
    {
        random.manual_seed(11);
        var fc1 = nn.Linear(8, 32);
        if (freezeFc1) foreach (var p in fc1.parameters()) p.requires_grad = false;
        Model = nn.Sequential(("fc1", fc1), ("act", nn.ReLU()), ("drop", nn.Dropout(0.2)), ("head", nn.Linear(32, 3)));
        Optimizer = optim.AdamW(Model.parameters().Where(p => p.requires_grad), lr: 1e-2);
        Scheduler = optim.lr_scheduler.StepLR(Optimizer, step_size: 5, gamma: 0.5);
    }

    public nn.Module<Tensor, Tensor> Model { get; }
    public optim.Optimizer Optimizer { get; }
    public optim.lr_scheduler.LRScheduler Scheduler { get; }

    public Checkpointer Attach(Checkpointer checkpointer) => checkpointer
        .AddModule("model", Model).AddOptimizer("optimizer", Optimizer).AddScheduler("scheduler", Scheduler)
        .AddState("cursor", () => _cursor, v => _cursor = v);

    /// <summary>Trains <paramref name="steps"/> steps checkpointing every <paramref name="every"/>; returns the state hash per checkpointed step.</summary>
    public static async Task<Dictionary<long, string>> RunAsync(string storeRoot, string runId, long steps, long every, int keepLast = 5, bool incremental = false)
    {
        using var job = new TrainingRun(freezeFc1: incremental);
        var hashes = new Dictionary<long, string>();
        await using var checkpointer = job.Attach(Checkpointer.Create(storeRoot, o =>
        {
            o.RunId = runId;
            o.Policy = CheckpointPolicy.Manual;
            o.KeepLast = keepLast;
            o.Incremental = incremental;
        }));
        await checkpointer.ResumeAsync();
        for (long step = 1; step <= steps; step++)
        {
            job.TrainStep();
            checkpointer.Step(step);
            if (step % every == 0)
            {
                await checkpointer.CheckpointAsync();
                hashes[step] = checkpointer.ComputeStateSha256();
            }
        }
        return hashes;
    }

    /// <summary>Resumes a fresh job from a store; returns the step and the state hash.</summary>
    public static async Task<(long Step, string Sha256)> ResumeAsync(string storeRoot, string runId, bool frozenFc1 = false)
    {
        using var job = new TrainingRun(frozenFc1);
        await using var checkpointer = job.Attach(Checkpointer.Create(storeRoot, o =>
        {
            o.RunId = runId;
            o.Policy = CheckpointPolicy.Manual;
        }));
        var resume = await checkpointer.ResumeAsync();
        return (resume.Step, checkpointer.ComputeStateSha256());
    }

    public void TrainStep()
    {
        using var scope = NewDisposeScope();
        Model.train();
        var x = randn(16, 8);
        var y = randint(0, 3, [16]);
        Optimizer.zero_grad();
        nn.functional.cross_entropy(Model.forward(x), y).backward();
        Optimizer.step();
        Scheduler.step();
        _cursor++;
    }

    public void Dispose()
    {
        Model.Dispose();
        Optimizer.Dispose();
    }
}
