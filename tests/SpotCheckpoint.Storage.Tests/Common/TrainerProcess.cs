using SpotCheckpoint.Testing;
using System.Diagnostics;
using System.Reflection;
using System.Text.Json;

namespace SpotCheckpoint.Storage.Tests.Common;

/// <summary>Runs the sample trainer as a child process with a chosen environment (endpoints, credentials).</summary>
internal static class TrainerProcess
{
    public static string DllPath { get; } = Path.GetFullPath(
        typeof(TrainerProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "SpotTrainerPath").Value!);

    /// <summary>
    /// The standard variables that point the trainer's stores at the emulators (and nowhere else): the S3, GCS and
    /// Azure endpoints and the emulators' public development credentials.
    /// </summary>
    public static Dictionary<string, string> EmulatorEnvironment(EmulatorEndpoints e) => new()
    {
        ["AWS_ENDPOINT_URL_S3"] = e.S3Endpoint,
        ["AWS_ACCESS_KEY_ID"] = Emulators.TestStores.S3rverKey,
        ["AWS_SECRET_ACCESS_KEY"] = Emulators.TestStores.S3rverKey,
        ["AWS_REGION"] = "us-east-1",
        // s3rver quirk (see TestStores): SDK checksums only where required; the store's Content-MD5 still applies.
        ["AWS_REQUEST_CHECKSUM_CALCULATION"] = "WHEN_REQUIRED",
        ["AWS_RESPONSE_CHECKSUM_VALIDATION"] = "WHEN_REQUIRED",
        ["AZURE_STORAGE_CONNECTION_STRING"] = e.AzureConnectionString,
        ["STORAGE_EMULATOR_HOST"] = e.GcsEndpoint,
    };

    public sealed record Outcome(int ExitCode, string StdErr, Summary? Summary);

    public sealed record Summary(long FinalStep, string FinalStateSha256, long? ResumedFromStep, long CheckpointsCommitted);

    /// <summary>The CLI, <c>spotckpt</c>.</summary>
    public static string SpotckptPath { get; } = Path.GetFullPath(
        typeof(TrainerProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "SpotckptPath").Value!);

    /// <summary>Runs <c>spotckpt</c> with the same clean environment; returns its exit code and output (stderr, then stdout).</summary>
    public static async Task<(int ExitCode, string Output)> RunSpotckptAsync(string workDir, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        using var process = Process.Start(StartInfo(SpotckptPath, workDir, environment, args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stderr + await stdout);
    }

    private static ProcessStartInfo StartInfo(string dll, string workDir, IReadOnlyDictionary<string, string> environment, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        // Nothing inherited may point an SDK at a real cloud; everything the child needs is set here.
        foreach (var name in new[] { "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                     "AZURE_STORAGE_CONNECTION_STRING", "STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS" })
            start.Environment.Remove(name);
        start.Environment["AWS_EC2_METADATA_DISABLED"] = "true";
        foreach (var (name, value) in environment) start.Environment[name] = value;
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        return start;
    }

    public static Task<Outcome> RunAsync(string workDir, IReadOnlyDictionary<string, string> environment, params string[] args) =>
        RunAsync(workDir, environment, killAfter: null, args);

    /// <summary>Runs the trainer; with <paramref name="killAfter"/> it is killed (SIGKILL) after that long (exit code -9).</summary>
    public static async Task<Outcome> RunAsync(string workDir, IReadOnlyDictionary<string, string> environment, TimeSpan? killAfter, params string[] args)
    {
        var summaryPath = Path.Combine(workDir, $"summary-{Guid.NewGuid():N}.json");
        var start = StartInfo(DllPath, workDir, environment, [.. args, "--summary-json", summaryPath]);
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
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            if (killAfter is null) throw new TimeoutException($"SpotTrainer {string.Join(' ', args)} did not finish in 3 minutes");
            return new Outcome(-9, await stderr + await stdout, null);
        }
        Summary? summary = null;
        if (File.Exists(summaryPath))
        {
            summary = JsonSerializer.Deserialize<Summary>(await File.ReadAllTextAsync(summaryPath),
                new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase });
        }
        await stdout;
        return new Outcome(process.ExitCode, await stderr + await stdout, summary);
    }
}
