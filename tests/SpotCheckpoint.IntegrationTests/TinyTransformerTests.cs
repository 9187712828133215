using System.Diagnostics;
using System.Reflection;
using System.Text.Json;

namespace SpotCheckpoint.IntegrationTests;

/// <summary>The transformer sample keeps the console trainer's contract: stop anywhere, resume, end bit-identical.</summary>
public class TinyTransformerTests() : WorkDirectoryFixture("spotckpt-it")
{
    private static readonly string DllPath = Path.GetFullPath(
        typeof(TinyTransformerTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "TinyTransformerPath").Value!);

    private sealed record Summary(long FinalStep, string FinalStateSha256, long? ResumedFromStep, long CheckpointsCommitted, double? FirstLoss, double? FinalLoss);

    private Task<Summary> RunAsync(params string[] args) => RunAsync(240, args);

    private async Task<Summary> RunAsync(int timeoutSeconds, params string[] args)
    {
        var summaryPath = Path.Combine(Work, $"summary-{Guid.NewGuid():N}.json");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Work,
        };
        start.ArgumentList.Add(DllPath);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.ArgumentList.Add("--summary-json");
        start.ArgumentList.Add(summaryPath);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"TinyTransformer {string.Join(' ', args)} did not finish");
        }
        Assert.That(process.ExitCode, Is.Zero, $"{await stdout}\n{await stderr}");
        return JsonSerializer.Deserialize<Summary>(await File.ReadAllTextAsync(summaryPath),
            new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase })!;
    }

    private string[] Common(string uri) =>
        ["--steps", "20", "--checkpoint-every", "5", "--seed", "3", "--quiet", "--checkpoint-uri", uri];

    [Test]
    public async Task Stopped_between_checkpoints_and_resumed_ends_with_the_straight_runs_hash()
    {
        var stopped = Path.Combine(Work, "stopped");
        var straightTask = RunAsync([.. Common(Path.Combine(Work, "straight"))]);
        var first = await RunAsync([.. Common(stopped), "--stop-at", "12"]);
        var straight = await straightTask;
        Assert.That(straight.FinalStep, Is.EqualTo(20));
        Assert.That(first.FinalStep, Is.EqualTo(12));

        var second = await RunAsync(Common(stopped));
        Assert.That(second.ResumedFromStep, Is.EqualTo(12));
        Assert.That(second.FinalStep, Is.EqualTo(20));
        Assert.That(second.FinalStateSha256, Is.EqualTo(straight.FinalStateSha256));
    }

    [Test]
    public async Task The_default_run_learns_the_task()
    {
        // The one long test here: 300 steps, about 2 CPU-minutes (see docs/tiny-transformer.md).
        var run = await RunAsync(900, "--quiet", "--checkpoint-uri", Path.Combine(Work, "default"));
        Assert.That(run.FinalStep, Is.EqualTo(300));
        TestContext.Out.WriteLine($"TinyTransformer default run: loss {run.FirstLoss} -> {run.FinalLoss}");
        // Well below the first step's loss, and well below chance (ln 10 ≈ 2.3 for guessing a digit).
        Assert.That(run.FinalLoss, Is.LessThan(run.FirstLoss!.Value * 0.5), $"loss {run.FirstLoss} → {run.FinalLoss}");
        Assert.That(run.FinalLoss, Is.LessThan(0.5), $"loss {run.FirstLoss} → {run.FinalLoss}");
    }
}
