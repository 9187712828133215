using System.Diagnostics;
using System.Reflection;
using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.IntegrationTests;

/// <summary>
/// The acceptance scenario of incremental checkpoints with the sample trainer: a frozen layer that holds most of the
/// bytes, a checkpoint every 10 of 60 steps, 3 retained.
/// </summary>
public class IncrementalTrainerTests() : WorkDirectoryFixture("spotckpt-it")
{
    private static readonly string SpotckptPath = Path.GetFullPath(
        typeof(IncrementalTrainerTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "SpotckptPath").Value!);

    private static string[] Common(string uri) =>
        ["--steps", "60", "--checkpoint-every", "10", "--model-mb", "24", "--freeze", "fc2", "--seed", "7", "--quiet",
         "--optimizer", "adamw", "--scheduler", "onecycle", "--batch-size", "8", "--checkpoint-uri", uri];

    private static long FolderBytes(string path) => Directory.GetFiles(path, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    [Test]
    public async Task A_frozen_base_run_stays_small_resumes_bit_identical_and_verifies()
    {
        var straightUri = Path.Combine(Work, "straight");
        var straight = await SpotTrainerProcess.RunAsync(Work, Common(straightUri));
        Assert.That(straight.ExitCode, Is.Zero, straight.StdErr);
        Assert.That(straight.Summary!.CheckpointsCommitted, Is.EqualTo(6));

        // One full checkpoint of the same run: every tensor byte plus its manifest.
        await using (var store = new LocalFileStore(straightUri))
        {
            var newest = await CheckpointReader.OpenAsync(store, "demo", 60);
            long full = newest.Manifest.Tensors.Sum(t => t.Bytes) + new FileInfo(Path.Combine(straightUri, "demo", "step-00000060", "manifest.json")).Length;
            long folder = FolderBytes(Path.Combine(straightUri, "demo"));
            TestContext.Out.WriteLine($"run folder {folder} bytes, one full checkpoint {full} bytes: {(double)folder / full:0.00}x; " +
                $"written {straight.Summary.BytesWritten}, reused {straight.Summary.BytesReused}");
            Assert.That(folder, Is.LessThanOrEqualTo(1.5 * full), "the frozen layer is stored once, not once per checkpoint");
            Assert.That(straight.Summary.BytesReused, Is.GreaterThan(4 * newest.Manifest.Tensors.Single(t => t.Name == "model/fc2.weight").Bytes),
                "five checkpoints reference the frozen weight instead of writing it");
        }

        var uri = Path.Combine(Work, "stopped");
        var first = await SpotTrainerProcess.RunAsync(Work, [.. Common(uri), "--stop-at", "35"]);
        Assert.That(first.ExitCode, Is.Zero, first.StdErr);
        var second = await SpotTrainerProcess.RunAsync(Work, Common(uri));
        Assert.That(second.ExitCode, Is.Zero, second.StdErr);
        Assert.That(second.Summary!.ResumedFromStep, Is.EqualTo(35));
        Assert.That(second.Summary.FinalStateSha256, Is.EqualTo(straight.Summary.FinalStateSha256));

        var verify = await SpotckptAsync("verify", Path.Combine(uri, "demo"), "--all");
        Assert.That(verify.Exit, Is.Zero, verify.Output + verify.Error);
        Assert.That(verify.Output, Does.Contain("0 corrupt"));
    }

    [Test]
    public async Task Corrupting_the_largest_stored_object_never_gives_a_silent_wrong_state_or_a_stack_trace()
    {
        var uri = Path.Combine(Work, "ckpt");
        var first = await SpotTrainerProcess.RunAsync(Work, [.. Common(uri), "--stop-at", "30"]);
        Assert.That(first.ExitCode, Is.Zero, first.StdErr);
        var largest = Directory.GetFiles(Path.Combine(uri, "demo"), "*", SearchOption.AllDirectories).MaxBy(f => new FileInfo(f).Length)!;
        Assert.That(Path.GetDirectoryName(largest), Does.EndWith(StoreKeys.ChunksFolderName), "the frozen layer's pack is the largest object");
        var bytes = File.ReadAllBytes(largest);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(largest, bytes);

        var second = await SpotTrainerProcess.RunAsync(Work, Common(uri));
        // Every checkpoint shares the damaged chunk: no checkpoint is usable, and the trainer says which chunk in one line.
        Assert.That(second.ExitCode, Is.EqualTo(1), second.StdErr);
        Assert.That(second.StdErr, Does.Contain("chunk").And.Contain("does not match"));
        Assert.That(second.StdErr, Does.Not.Contain("   at "), "no stack trace");
        Assert.That(second.Summary, Is.Null, "no state was trained from a damaged restore");
    }

    [Test]
    public async Task An_unknown_module_to_freeze_is_one_line_and_exit_code_2()
    {
        var run = await SpotTrainerProcess.RunAsync(Work, "--steps", "5", "--freeze", "fc9", "--checkpoint-uri", Path.Combine(Work, "x"));
        Assert.That(run.ExitCode, Is.EqualTo(2));
        Assert.That(run.StdErr.Trim().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(run.StdErr, Does.Contain("'fc9'").And.Contain("fc1, norm, fc2, head"));
    }

    private async Task<(int Exit, string Output, string Error)> SpotckptAsync(params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Work };
        start.ArgumentList.Add(SpotckptPath);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }
}
