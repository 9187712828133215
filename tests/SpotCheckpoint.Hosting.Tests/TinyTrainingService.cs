using Microsoft.Extensions.Hosting;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Hosting.Tests;

/// <summary>What a <see cref="TinyTrainingService"/> did, for the test to look at.</summary>
internal sealed class TrainingProbe
{
    private readonly object _gate = new();
    private TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _waitFor = long.MaxValue;

    public long MaxSteps { get; init; } = 1_000_000;
    public TimeSpan StepDelay { get; init; } = TimeSpan.FromMilliseconds(5);
    public long? ResumedFrom { get; set; }
    public long Step { get; private set; }
    public long? FinalStep { get; set; }
    public string? StateSha256 { get; set; }
    public TaskCompletionSource Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Reached(long step)
    {
        lock (_gate)
        {
            Step = step;
            if (step >= _waitFor) _reached.TrySetResult();
        }
    }

    public Task WaitForStepAsync(long step)
    {
        lock (_gate)
        {
            _reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waitFor = step;
            if (Step >= step) _reached.TrySetResult();
            return _reached.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
    }
}

/// <summary>
/// A tiny TorchSharp training loop run as a BackgroundService, written the way docs/hosting.md says: register the
/// state with the injected checkpointer, resume, call Step after every optimizer step and stop when asked. It does
/// not wait for the emergency checkpoint itself: holding the host until it has committed is the hosting's job.
/// </summary>
internal sealed class TinyTrainingService(Checkpointer checkpointer, TrainingProbe probe) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        try
        {
            random.manual_seed(7);
            using var model = nn.Sequential(("fc1", nn.Linear(8, 16)), ("act", nn.ReLU()), ("drop", nn.Dropout(0.2)), ("head", nn.Linear(16, 3)));
            using var optimizer = optim.AdamW(model.parameters(), lr: 1e-2);
            var scheduler = optim.lr_scheduler.StepLR(optimizer, step_size: 10, gamma: 0.5);
            long cursor = 0;
            checkpointer.AddModule("model", model).AddOptimizer("optimizer", optimizer).AddScheduler("scheduler", scheduler)
                .AddState("cursor", () => cursor, value => cursor = value);

            var resume = await checkpointer.ResumeAsync(CancellationToken.None);
            probe.ResumedFrom = resume.Step;
            long step = resume.Step;
            while (step < probe.MaxSteps)
            {
                using (NewDisposeScope())
                {
                    model.train();
                    var x = randn(16, 8);
                    var y = randint(0, 3, [16]);
                    optimizer.zero_grad();
                    nn.functional.cross_entropy(model.forward(x), y).backward();
                    optimizer.step();
                    scheduler.step();
                    cursor++;
                }
                step++;
                checkpointer.Step(step);
                probe.Reached(step);
                // Only StopRequested: the host raises its shutdown notice before it cancels stoppingToken, so a loop
                // that also broke on the token could leave between this Step and the notice, without a checkpoint.
                if (checkpointer.StopRequested) break;
                await Task.Delay(probe.StepDelay, CancellationToken.None);
            }
            probe.FinalStep = step;
            probe.StateSha256 = checkpointer.ComputeStateSha256();
            probe.Finished.TrySetResult();
        }
        catch (Exception ex)
        {
            probe.Finished.TrySetException(ex);
            throw;
        }
    }
}
