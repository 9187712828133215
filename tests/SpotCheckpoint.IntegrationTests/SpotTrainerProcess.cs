using System.Diagnostics;
using System.Reflection;
using System.Text.Json;

namespace SpotCheckpoint.IntegrationTests;

/// <summary>Runs the sample trainer as a child process, as a user would.</summary>
internal static class SpotTrainerProcess
{
    public static string DllPath { get; } = Path.GetFullPath(
        typeof(SpotTrainerProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "SpotTrainerPath").Value!);

    public sealed record Outcome(int ExitCode, string StdOut, string StdErr, TrainerSummary? Summary);

    public sealed record TrainerSummary(long FinalStep, string FinalStateSha256, long? ResumedFromStep, long CheckpointsCommitted);

    public static Task<Outcome> RunAsync(string workDir, params string[] args) => RunAsync(workDir, killAfter: null, args);

    /// <summary>Runs the trainer; with <paramref name="killAfter"/> it is killed (SIGKILL) after that long.</summary>
    public static async Task<Outcome> RunAsync(string workDir, TimeSpan? killAfter, params string[] args)
    {
        var summaryPath = Path.Combine(workDir, $"summary-{Guid.NewGuid():N}.json");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        start.ArgumentList.Add(DllPath);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.ArgumentList.Add("--summary-json");
        start.ArgumentList.Add(summaryPath);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(killAfter ?? TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true); // SIGKILL: no handler runs, nothing is flushed
            await process.WaitForExitAsync();
            if (killAfter is null) throw new TimeoutException($"SpotTrainer {string.Join(' ', args)} did not finish in 3 minutes");
            return new Outcome(-9, await stdout, await stderr, null);
        }
        TrainerSummary? summary = null;
        if (File.Exists(summaryPath))
        {
            summary = JsonSerializer.Deserialize<TrainerSummary>(await File.ReadAllTextAsync(summaryPath),
                new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase });
        }
        return new Outcome(process.ExitCode, await stdout, await stderr, summary);
    }
}
