using System.Diagnostics;
using System.Text;

namespace SpotCheckpoint.Packaging.Tests;

/// <summary>Runs the dotnet CLI (or a tool it installed) as a child process with a clean MSBuild environment.</summary>
internal static class DotnetProcess
{
    /// <summary>The dotnet executable running these tests.</summary>
    public static string Dotnet { get; } = FindDotnet();

    public static async Task<string> RunAsync(string fileName, string arguments, string workingDirectory, TimeSpan timeout, IDictionary<string, string>? environment = null)
    {
        var (exitCode, stdout, stderr, both) = await RunCapturedAsync(fileName, arguments, workingDirectory, timeout, environment);
        if (exitCode != 0) Assert.Fail($"'{Path.GetFileName(fileName)} {arguments}' exited with {exitCode}:\n{Tail(both)}");
        return both;
    }

    /// <summary>Runs a process and returns its exit code, its standard output and error apart, and both interleaved.</summary>
    public static async Task<(int ExitCode, string StdOut, string StdErr, string Both)> RunCapturedAsync(string fileName, string arguments, string workingDirectory,
        TimeSpan timeout, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(fileName, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // The test runner's MSBuild variables would point child builds at its own MSBuild state.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(name);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_ROOT"] = Path.GetDirectoryName(Dotnet)!;
        if (environment is not null) foreach (var (key, value) in environment) start.Environment[key] = value;

        var output = new StringBuilder();
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) { output.AppendLine(e.Data); stdout.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) { output.AppendLine(e.Data); stderr.AppendLine(e.Data); } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"'{Path.GetFileName(fileName)} {arguments}' did not finish within {timeout}:\n{Tail(output)}");
        }
        process.WaitForExit(); // drains the output handlers
        lock (output) return (process.ExitCode, stdout.ToString(), stderr.ToString(), output.ToString());
    }

    public static string Tail(object text)
    {
        var s = text.ToString()!;
        return s.Length > 8000 ? "…" + s[^8000..] : s;
    }

    private static string FindDotnet()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)) return host;
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            var candidate = Path.Combine(directory, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
            if (!File.Exists(candidate)) continue;
            return File.ResolveLinkTarget(candidate, returnFinalTarget: true)?.FullName ?? candidate;
        }
        throw new InvalidOperationException("dotnet was not found on PATH.");
    }
}
