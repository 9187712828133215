using SpotCheckpoint.Storage;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using SpotCheckpoint;
using SpotCheckpoint.Notices;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Samples;
using SpotTrainer;
using static TorchSharp.torch;

TrainerOptions options;
try
{
    options = TrainerOptions.Parse(args);
}
catch (UsageException ex)
{
    Console.Error.WriteLine($"error: {ex.Message} (--help lists the options)");
    return 2;
}
if (options.Help)
{
    Console.Out.WriteLine(TrainerOptions.Usage);
    return 0;
}

try
{
    return await RunAsync(options);
}
catch (UsageException ex)
{
    Console.Error.WriteLine($"error: {Messages.OneLine(ex)}");
    return 2;
}
catch (Exception ex) when (ex is CheckpointException or ArgumentException or IOException or UnauthorizedAccessException)
{
    // An unwritable or unreachable location is found when the checkpointer starts (before any step is trained):
    // one line that says what to fix, no stack trace.
    Console.Error.WriteLine($"error: {Messages.OneLine(ex)}");
    return 1;
}

static async Task<int> RunAsync(TrainerOptions options)
{
    using var loggerFactory = SampleConsole.CreateLoggerFactory(options.Quiet);
    var log = loggerFactory.CreateLogger("SpotTrainer");
    SampleConsole.RegisterStores(loggerFactory); // for --checkpoint-uri s3://, gs://, az://

    random.manual_seed(options.Seed);
    using var data = new SyntheticDataset(options.Seed, samples: 4096, options.BatchSize);
    var model = TrainingSetup.CreateModel(options.ModelMb);
    TrainingSetup.Freeze(model, options.Freeze);
    // Frozen parameters stay out of the optimizer (no state for them, nothing for it to change).
    var optimizer = TrainingSetup.CreateOptimizer(options.Optimizer, model.parameters().Where(p => p.requires_grad).ToList());
    var scheduler = TrainingSetup.CreateScheduler(options.Scheduler, optimizer, options.Steps);
    var lossFunction = nn.CrossEntropyLoss();

    // SpotCheckpoint: register what a resumed run needs, resume, then report every step.
    using var metrics = new SpotCheckpoint.Diagnostics.SpotCheckpointMetrics();
    using var metricsSummary = new MetricsSummary(metrics);
    var adaptive = options.CheckpointAuto
        ? CheckpointPolicy.Adaptive(a =>
        {
            a.GpuFamily = options.GpuFamily;
            a.HazardPerHour = options.HazardPerHour;
            a.MinInterval = TimeSpan.FromSeconds(1); // a demo runs for seconds; real jobs keep the 30 s default
        })
        : null;
    await using var checkpointer = Messages.OpenCheckpointer(options, () => Checkpointer.Create(options.CheckpointUri, o =>
        {
            o.RunId = options.RunId;
            o.Policy = adaptive ?? CheckpointPolicy.EverySteps(options.CheckpointEvery);
            o.Metrics = metrics;
            o.Incremental = options.Incremental;
            o.FullCheckpointEvery = options.FullCheckpointEvery;
            if (options.Notice != "none") o.Notices.UseSignals();
            switch (options.Notice)
            {
                case "aws": o.Notices.UseAwsSpotNotices(); break;
                case "gcp": o.Notices.UseGcpPreemptionNotices(); break;
                case "azure": o.Notices.UseAzureScheduledEvents(); break;
                case "auto": o.Notices.UseCloudAutoDetection(); break;
            }
        }, loggerFactory))
        .AddModule("model", model)
        .AddOptimizer("optimizer", optimizer)
        .AddScheduler("scheduler", scheduler)
        .AddState("data", () => data.Position, position => data.Position = position);

    var resume = await checkpointer.ResumeAsync();
    // The adaptive schedule keeps what it learned about interruptions with the run (<run>/hazard.json).
    if (adaptive is not null) await adaptive.Hazard.BeginAttemptAsync(checkpointer.Store, options.RunId);
    long parameters = model.parameters().Sum(p => p.numel());
    log.LogInformation("Model: {Parameters:N0} parameters ({Mb:F1} MB), {Optimizer}, {Scheduler}; {Mode} at step {Step} of {Steps}",
        parameters, parameters * 4 / 1048576.0, options.Optimizer, options.Scheduler,
        resume.Resumed ? "resuming" : "starting", resume.Step, options.Steps);

    if (resume.Resumed && resume.Step >= options.Steps)
    {
        log.LogInformation("Run {RunId} is already complete (step {Step} of {Steps}); nothing to train. Start another run with --run-id <new-id>",
            options.RunId, resume.Step, options.Steps);
    }

    long step = resume.Step;
    long lastStep = Math.Min(options.Steps, options.StopAt ?? long.MaxValue);
    var clock = Stopwatch.StartNew();
    while (step < lastStep)
    {
        using (NewDisposeScope())
        {
            model.train();
            var (inputs, labels) = data.Next();
            var loss = TrainingSetup.Step(optimizer, () =>
            {
                optimizer.zero_grad();
                var batchLoss = lossFunction.forward(model.forward(inputs), labels);
                batchLoss.backward();
                return batchLoss;
            });
            scheduler.step();
            step++;
            if (step % 50 == 0 || step == options.Steps)
                log.LogInformation("step {Step}: loss {Loss:F4}, lr {Lr:G4}", step, loss.item<float>(), optimizer.ParamGroups.First().LearningRate);
        }
        checkpointer.Epoch = data.Position.Epoch; // saved with each checkpoint (ls and inspect show it)
        checkpointer.Step(step);
        if (checkpointer.StopRequested) break; // a termination notice: the emergency checkpoint is on its way
        if (options.StepDelayMs > 0) Thread.Sleep(options.StepDelayMs);
    }
    EmergencyCheckpointResult? emergency = checkpointer.EmergencyCheckpoint is { } pending ? await pending : null;
    if (emergency is not null)
    {
        if (!emergency.Committed)
        {
            Console.Error.WriteLine($"error: preempted at step {step}, and the emergency checkpoint failed: {LocationRedaction.Redact(emergency.Error?.Message?.Split('\n')[0])}");
            return 1;
        }
        log.LogWarning("Preempted ({Provider} {Action}) at step {Step}: checkpoint of step {Committed} committed {Ms:F0} ms after the notice; run the same command again to resume",
            emergency.Notice.Provider, emergency.Notice.Action, step, emergency.Checkpoint!.Step, emergency.NoticeToCommit!.Value.TotalMilliseconds);
    }
    else
    {
        // The last step is always committed: a run stopped with --stop-at resumes exactly there, a finished run is final.
        // (The run's history records the last checkpoint of a finished run as final: reports say it completed.)
        await (step == options.Steps ? checkpointer.CheckpointFinalAsync() : checkpointer.CheckpointAsync());
        if (step == options.StopAt && step < options.Steps)
            log.LogInformation("Stopping at step {Step} as asked; run again with --run-id {RunId} to resume", step, options.RunId);
    }
    await checkpointer.FlushAsync();
    var stats = checkpointer.Statistics;
    log.LogInformation("Done at step {Step} in {Seconds:F1} s: {Committed} checkpoint(s) committed, last stall {Stall:F1} ms, last persist {Persist:F1} ms",
        step, clock.Elapsed.TotalSeconds, stats.Committed, stats.LastStall.TotalMilliseconds, stats.LastPersistDuration.TotalMilliseconds);
    if (stats.Failed > 0) log.LogWarning("{Failed} checkpoint(s) failed; see the errors above", stats.Failed);
    if (stats.Failed > 0 && stats.Committed == 0)
        Console.Error.WriteLine($"error: no checkpoint could be committed to {LocationRedaction.Redact(options.CheckpointUri)}: {LocationRedaction.Redact(stats.LastError?.Message?.Split('\n')[0])}");
    log.LogInformation("{Metrics}", metricsSummary);
    if (adaptive is not null)
    {
        log.LogInformation("Schedule: {Policy}, {Interruptions} interruption(s) observed over the run", adaptive, adaptive.Hazard.Interruptions);
        await adaptive.Hazard.EndAttemptAsync(checkpointer.Store, options.RunId);
    }

    var summary = new Summary(step, checkpointer.ComputeStateSha256(), resume.Resumed ? resume.Step : null, stats.Committed,
        Preempted: emergency is not null, NoticeProvider: emergency?.Notice.Provider, NoticeToCommitMs: emergency?.NoticeToCommit?.TotalMilliseconds,
        BytesWritten: stats.BytesWritten, BytesReused: stats.BytesReused);
    if (options.SummaryJson is not null)
    {
        await File.WriteAllTextAsync(options.SummaryJson, JsonSerializer.Serialize(summary, SummaryJsonContext.Default.Summary));
    }
    if (emergency is not null) return ExitCodes.Preempted;
    return stats.Failed > 0 && stats.Committed == 0 ? 1 : 0;
}

namespace SpotTrainer
{
    /// <summary>Exit codes beyond 0 (done), 1 (error) and 2 (usage).</summary>
    internal static class ExitCodes
    {
        /// <summary>Preempted after committing an emergency checkpoint (EX_TEMPFAIL: try again, it resumes).</summary>
        public const int Preempted = 75;
    }
}
