using System.Diagnostics;
using System.Reflection;

namespace SpotCheckpoint.Testing;

/// <summary>
/// Where the emulators answer. test.sh starts them (tests/emulators/start.sh) before the tests; run alone, the
/// fixture starts them through the same script. When they cannot be started, emulator tests fail under CI=true and
/// are inconclusive otherwise, with the reason.
/// </summary>
internal sealed record EmulatorEndpoints(string S3Endpoint, string S3Bucket, string AzureConnectionString, string AzureContainer, string GcsEndpoint, string GcsBucket)
{
    private static readonly Lazy<(EmulatorEndpoints? Endpoints, string? Problem)> Cached = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    public static string Directory { get; } = Path.GetFullPath(
        typeof(EmulatorEndpoints).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "EmulatorsDirectory").Value!);

    /// <summary>The endpoints, or the test stops (failed in CI, inconclusive elsewhere).</summary>
    public static EmulatorEndpoints Require()
    {
        var (endpoints, problem) = Cached.Value;
        if (endpoints is not null) return endpoints;
        var message = $"Storage emulators are not available: {problem}. Run ./test.sh, or tests/emulators/start.sh first.";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)) Assert.Fail(message);
        Assert.Inconclusive(message);
        throw new InvalidOperationException(message);
    }

    private static (EmulatorEndpoints?, string?) Load()
    {
        var file = Path.Combine(Directory, ".state", "endpoints.env");
        var script = Path.Combine(Directory, "start.sh");
        // start.sh is idempotent: it only starts what does not answer, so running it also revives a stopped emulator.
        try
        {
            var start = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
            start.ArgumentList.Add(script);
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            _ = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(8)))
            {
                process.Kill(entireProcessTree: true);
                return (null, "start.sh did not finish in 8 minutes");
            }
            if (process.ExitCode != 0) return (null, $"start.sh failed ({process.ExitCode}): {stderr.Result.Trim()}");
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException)
        {
            return (null, "start.sh could not run: " + ex.Message);
        }
        if (!File.Exists(file)) return (null, $"{file} is missing");
        var values = File.ReadAllLines(file)
            .Where(l => l.Contains('=', StringComparison.Ordinal))
            .ToDictionary(l => l[..l.IndexOf('=', StringComparison.Ordinal)], l => l[(l.IndexOf('=', StringComparison.Ordinal) + 1)..]);
        return (new EmulatorEndpoints(values["SPOTCKPT_S3_ENDPOINT"], values["SPOTCKPT_S3_BUCKET"],
            values["SPOTCKPT_AZURE_CONNECTION_STRING"], values["SPOTCKPT_AZURE_CONTAINER"],
            values["SPOTCKPT_GCS_ENDPOINT"], values["SPOTCKPT_GCS_BUCKET"]), null);
    }
}
