using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using SpotCheckpoint;
using SpotCheckpoint.Notices;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Samples;
using TinyTransformer;
using static TorchSharp.torch;
using static TorchSharp.torch.optim.lr_scheduler;

TinyOptions options;
try
{
    options = TinyOptions.Parse(args);
}
catch (UsageException ex)
{
    if (ex.Message.Length > 0) Console.Error.WriteLine($"error: {ex.Message}");
    Console.Error.WriteLine(TinyOptions.Usage);
    return ex.Message.Length > 0 ? 2 : 0;
}

try
{
    return await RunAsync(options);
}
catch (Exception ex) when (ex is CheckpointException or ArgumentException or IOException or UnauthorizedAccessException)
{
    // One line, no stack trace, and no secret from a location's query string.
    Console.Error.WriteLine($"error: {SampleConsole.OneLine(ex)}");
    return 1;
}

static async Task<int> RunAsync(TinyOptions options)
{
    using var loggerFactory = SampleConsole.CreateLoggerFactory(options.Quiet);
    var log = loggerFactory.CreateLogger("TinyTransformer");
    SampleConsole.RegisterStores(loggerFactory);

    random.manual_seed(options.Seed);
    var task = new ReversalTask(options.Seed, options.BatchSize);
    using var model = new TinyGpt(ReversalTask.Vocabulary, ReversalTask.Context);

    // Two parameter groups: weight decay on the matrices of the linear layers only (not on norms, biases or embeddings).
    // TorchSharp lists the tied weight twice (the native Embedding hands out a new wrapper for it, which the output
    // layer holds); optimize it once, as the embedding's.
    var trained = model.named_parameters().Where(p => p.name != "head.weight").ToList();
    var decayed = trained.Where(p => p.parameter.dim() == 2 && !p.name.Contains("emb", StringComparison.Ordinal)).Select(p => p.parameter).ToList();
    var others = trained.Select(p => p.parameter).Where(p => !decayed.Contains(p)).ToList();
    using var optimizer = optim.AdamW(
        [new TorchSharp.Modules.AdamW.ParamGroup(decayed, new TorchSharp.Modules.AdamW.Options { LearningRate = 3e-3, weight_decay = 0.05 }),
         new TorchSharp.Modules.AdamW.ParamGroup(others, new TorchSharp.Modules.AdamW.Options { LearningRate = 3e-3, weight_decay = 0.0 })],
        lr: 3e-3, beta2: 0.98);
    int total = (int)Math.Min(int.MaxValue, options.Steps);
    int warmup = Math.Max(1, total / 10);
    var scheduler = SequentialLR(optimizer,
        [LinearLR(optimizer, start_factor: 0.05, end_factor: 1.0, total_iters: warmup),
         CosineAnnealingLR(optimizer, T_max: Math.Max(1, total - warmup), eta_min: 1e-4)],
        [warmup]);

    await using var checkpointer = Checkpointer.Create(options.CheckpointUri, o =>
        {
            o.RunId = options.RunId;
            o.Policy = CheckpointPolicy.EverySteps(options.CheckpointEvery);
            if (options.Notice != "none") o.Notices.UseSignals();
            switch (options.Notice)
            {
                case "aws": o.Notices.UseAwsSpotNotices(); break;
                case "gcp": o.Notices.UseGcpPreemptionNotices(); break;
                case "azure": o.Notices.UseAzureScheduledEvents(); break;
                case "auto": o.Notices.UseCloudAutoDetection(); break;
            }
        }, loggerFactory)
        .AddModule("model", model)
        .AddOptimizer("optimizer", optimizer)
        .AddScheduler("scheduler", scheduler)
        .AddState("data", () => task.Position, position => task.Position = position);

    var resume = await checkpointer.ResumeAsync();
    log.LogInformation("TinyGpt: {Parameters:N0} parameters, AdamW, warm-up {Warmup} steps then cosine; {Mode} at step {Step} of {Steps}",
        trained.Sum(p => p.parameter.numel()), warmup, resume.Resumed ? "resuming" : "starting", resume.Step, options.Steps);

    long step = resume.Step;
    long lastStep = Math.Min(options.Steps, options.StopAt ?? long.MaxValue);
    double? firstLoss = null, finalLoss = null;
    var clock = Stopwatch.StartNew();
    while (step < lastStep)
    {
        using (NewDisposeScope())
        {
            model.train();
            var (inputs, targets) = task.Next();
            optimizer.zero_grad();
            var logits = model.forward(inputs);
            var loss = nn.functional.cross_entropy(logits.view(-1, ReversalTask.Vocabulary), targets.view(-1), ignore_index: -100);
            loss.backward();
            nn.utils.clip_grad_norm_(trained.Select(p => p.parameter), max_norm: 1.0);
            optimizer.step();
            scheduler.step();
            step++;
            finalLoss = loss.item<float>();
            firstLoss ??= finalLoss;
            if (step % 25 == 0 || step == options.Steps)
                log.LogInformation("step {Step}: loss {Loss:F4}, lr {Lr:G4}", step, finalLoss, scheduler.get_last_lr().First());
        }
        checkpointer.Step(step);
        if (checkpointer.StopRequested) break;
    }

    var emergency = checkpointer.EmergencyCheckpoint is { } pending ? await pending : null;
    if (emergency is not null && !emergency.Committed)
    {
        Console.Error.WriteLine($"error: preempted at step {step}, and the emergency checkpoint failed: {emergency.Error?.Message}");
        return 1;
    }
    if (emergency is null) await checkpointer.CheckpointAsync(); // the last step is always committed
    await checkpointer.FlushAsync();
    var stats = checkpointer.Statistics;
    log.LogInformation("Done at step {Step} in {Seconds:F1} s: loss {First:F3} → {Final:F3}, {Committed} checkpoint(s) committed",
        step, clock.Elapsed.TotalSeconds, firstLoss, finalLoss, stats.Committed);

    var summary = new Summary(step, checkpointer.ComputeStateSha256(), resume.Resumed ? resume.Step : null, stats.Committed,
        emergency is not null, emergency?.Notice.Provider, emergency?.NoticeToCommit?.TotalMilliseconds, firstLoss, finalLoss);
    if (options.SummaryJson is not null)
        await File.WriteAllTextAsync(options.SummaryJson, JsonSerializer.Serialize(summary, SummaryJsonContext.Default.Summary));
    if (emergency is not null) return 75;
    return stats.Failed > 0 && stats.Committed == 0 ? 1 : 0;
}
