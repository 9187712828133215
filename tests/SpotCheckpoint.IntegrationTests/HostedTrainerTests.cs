using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace SpotCheckpoint.IntegrationTests;

/// <summary>
/// samples/HostedTrainer as a user runs it: configured by environment variables over its appsettings.json, stopped
/// with SIGTERM (the generic host's shutdown), then started again to resume to the same final state as a straight run.
/// </summary>
public sealed partial class HostedTrainerTests
{
    private static readonly string DllPath = Path.GetFullPath(
        typeof(HostedTrainerTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "HostedTrainerPath").Value!);

    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "spotckpt-hosted-trainer", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    [Test]
    public async Task Sigterm_commits_the_step_reached_exit_75_and_the_next_start_resumes_to_the_straight_runs_state()
    {
        var straight = await RunAsync("straight", stepDelayMs: 0);
        Assert.That((straight.ExitCode, straight.Summary.GetProperty("finalStep").GetInt64()), Is.EqualTo((0, 160L)), straight.Output);

        var cut = await RunAsync("cut", stepDelayMs: 25, stopWhenPrinted: "step 50:");
        Assert.That(cut.ExitCode, Is.EqualTo(75), cut.Output);
        Assert.That(cut.Summary.GetProperty("preempted").GetBoolean(), Is.True);
        long reached = cut.Summary.GetProperty("finalStep").GetInt64();
        Assert.That(reached, Is.InRange(50L, 159L));
        // Usually the step reached; when the notice lands while the first checkpoint (step 50, nothing measured yet)
        // holds the only staging buffer, the emergency plan keeps that one instead of waiting for a buffer.
        var emergency = System.Text.RegularExpressions.Regex.Match(cut.Output, @"Emergency checkpoint of run cut at step (\d+) committed; the host may stop");
        Assert.That(emergency.Success, Is.True, cut.Output);
        long committed = long.Parse(emergency.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(committed, Is.InRange(50L, reached));
        Assert.That(File.Exists(Path.Combine(_dir, "checkpoints", "cut", $"step-{committed:D8}", "manifest.json")), Is.True, "the emergency checkpoint is committed");

        var resumed = await RunAsync("cut", stepDelayMs: 0);
        Assert.That(resumed.ExitCode, Is.Zero, resumed.Output);
        Assert.That(resumed.Summary.GetProperty("resumedFromStep").GetInt64(), Is.EqualTo(committed));
        Assert.That(resumed.Summary.GetProperty("finalStateSha256").GetString(), Is.EqualTo(straight.Summary.GetProperty("finalStateSha256").GetString()));
    }

    [Test]
    public async Task A_bad_setting_stops_start_up_with_a_message_naming_the_key()
    {
        var run = await RunAsync("bad", stepDelayMs: 0, extra: new() { ["SpotCheckpoint__KeepLast"] = "0" }, expectSummary: false);
        Assert.That(run.ExitCode, Is.Not.Zero);
        Assert.That(run.Output, Does.Contain("SpotCheckpoint:KeepLast must be at least 1"));
    }

    private sealed record Outcome(int ExitCode, string Output, JsonElement Summary);

    private async Task<Outcome> RunAsync(string runId, int stepDelayMs, string? stopWhenPrinted = null, Dictionary<string, string>? extra = null, bool expectSummary = true)
    {
        var summary = Path.Combine(_dir, $"{runId}-{Guid.NewGuid():N}.json");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _dir,
        };
        start.ArgumentList.Add(DllPath);
        start.Environment["SpotCheckpoint__Location"] = Path.Combine(_dir, "checkpoints");
        start.Environment["SpotCheckpoint__RunId"] = runId;
        start.Environment["SpotCheckpoint__Notices__Cloud"] = "None";
        start.Environment["Training__Steps"] = "160";
        start.Environment["Training__StepDelayMs"] = stepDelayMs.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["Training__SummaryJson"] = summary;
        foreach (var (key, value) in extra ?? new()) start.Environment[key] = value;

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        var pumps = new[] { Pump(process.StandardOutput, output), Pump(process.StandardError, output) };
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            if (stopWhenPrinted is not null)
            {
                while (!Contains(output, stopWhenPrinted))
                {
                    if (process.HasExited) Assert.Fail($"HostedTrainer exited before printing '{stopWhenPrinted}':\n{output}");
                    await Task.Delay(20, timeout.Token);
                }
                Assert.That(kill(process.Id, 15), Is.Zero, "SIGTERM sent");
            }
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"HostedTrainer did not finish:\n{output}");
        }
        await Task.WhenAll(pumps);
        var json = expectSummary ? JsonDocument.Parse(await File.ReadAllTextAsync(summary)).RootElement.Clone() : default;
        lock (output) return new Outcome(process.ExitCode, output.ToString(), json);
    }

    private static bool Contains(StringBuilder output, string text)
    {
        lock (output) return output.ToString().Contains(text, StringComparison.Ordinal);
    }

    private static Task Pump(StreamReader reader, StringBuilder into) => Task.Run(async () =>
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (into) into.AppendLine(line);
        }
    });

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
