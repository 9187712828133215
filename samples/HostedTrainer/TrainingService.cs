using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using System.Text.Json;
using Microsoft.Extensions.Options;
using SpotCheckpoint;
using TorchSharp;
using static TorchSharp.torch;

namespace HostedTrainer;

/// <summary>
/// The training loop as a BackgroundService. SpotCheckpoint comes in through the injected <see cref="Checkpointer"/>:
/// register the state, resume, call <see cref="Checkpointer.Step"/> after each optimizer step and stop when
/// <see cref="Checkpointer.StopRequested"/> says so (host shutdown or a cloud notice: an emergency checkpoint of this
/// step is on its way, and the host's shutdown waits for it).
/// </summary>
internal sealed partial class TrainingService(
    Checkpointer checkpointer, IOptions<TrainingOptions> options, IHostApplicationLifetime lifetime, ILogger<TrainingService> logger) : BackgroundService
{
    /// <summary>Exit code of a run that was stopped after committing its emergency checkpoint: run it again to resume.</summary>
    public const int Preempted = 75;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield(); // the loop is CPU-bound: let the host finish starting
        var o = options.Value;
        random.manual_seed(o.Seed);
        using var model = nn.Sequential(
            ("fc1", nn.Linear(32, o.Hidden)), ("act1", nn.ReLU()), ("drop", nn.Dropout(0.1)),
            ("fc2", nn.Linear(o.Hidden, o.Hidden)), ("act2", nn.ReLU()), ("head", nn.Linear(o.Hidden, 4)));
        using var optimizer = optim.AdamW(model.parameters(), lr: 1e-3, weight_decay: 0.01);
        var scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr: 3e-3, total_steps: (int)o.Steps + 1);
        long dataPosition = 0;

        // SpotCheckpoint: what a resumed run needs.
        checkpointer.AddModule("model", model).AddOptimizer("optimizer", optimizer).AddScheduler("scheduler", scheduler)
            .AddState("data", () => dataPosition, position => dataPosition = position);
        var resume = await checkpointer.ResumeAsync(stoppingToken);
        LogStarting(resume.Resumed ? "Resuming" : "Starting", checkpointer.RunId, resume.Step, o.Steps);

        long step = resume.Step;
        while (step < o.Steps)
        {
            using (NewDisposeScope())
            {
                // Synthetic data that depends only on the position, so a resumed run sees the same batches.
                using var generator = new Generator(unchecked((ulong)(o.Seed * 1_000_003 + dataPosition)));
                var inputs = randn(o.BatchSize, 32, generator: generator);
                var labels = randint(0, 4, [o.BatchSize], generator: generator);
                dataPosition++;
                model.train();
                optimizer.zero_grad();
                var loss = nn.functional.cross_entropy(model.forward(inputs), labels);
                loss.backward();
                optimizer.step();
                scheduler.step();
                step++;
                if (step % 50 == 0) LogProgress(step, loss.item<float>());
            }
            checkpointer.Step(step);
            if (checkpointer.StopRequested) break; // host shutdown or a cloud notice
            if (o.StepDelayMs > 0) await Task.Delay(o.StepDelayMs, CancellationToken.None);
        }

        bool preempted = checkpointer.EmergencyCheckpoint is not null;
        if (checkpointer.EmergencyCheckpoint is { } emergency)
        {
            var result = await emergency;
            if (result.Committed) LogPreempted(step, result.Checkpoint!.Step);
            Environment.ExitCode = result.Committed ? Preempted : 1;
        }
        else
        {
            await checkpointer.CheckpointAsync(CancellationToken.None); // the final state
            LogDone(step);
        }
        if (o.SummaryJson is { Length: > 0 } path)
        {
            var summary = new Dictionary<string, object?>
            {
                ["finalStep"] = step,
                ["finalStateSha256"] = checkpointer.ComputeStateSha256(),
                ["resumedFromStep"] = resume.Resumed ? resume.Step : null,
                ["preempted"] = preempted,
            };
            await File.WriteAllTextAsync(path, JsonSerializer.Serialize(summary), CancellationToken.None);
        }
        if (!preempted) lifetime.StopApplication(); // training is over: so is the process
    }

    [LoggerMessage(1, LogLevel.Information, "{Mode} run {RunId} at step {Step} of {Steps}")]
    private partial void LogStarting(string mode, string runId, long step, long steps);

    [LoggerMessage(2, LogLevel.Information, "step {Step}: loss {Loss:F4}")]
    private partial void LogProgress(long step, float loss);

    [LoggerMessage(3, LogLevel.Warning, "Stopped at step {Step}; checkpoint of step {Committed} committed. Run again to resume")]
    private partial void LogPreempted(long step, long committed);

    [LoggerMessage(4, LogLevel.Information, "Done at step {Step}")]
    private partial void LogDone(long step);
}
