using SpotCheckpoint.Storage;
using SpotCheckpoint.Testing;

namespace SpotCheckpoint.IntegrationTests;

/// <summary>
/// The sample trainer killed (SIGKILL) at each deterministic crash point (<c>SPOTCKPT_CRASH_AT</c>) on the local store:
/// the store shows it died exactly there, every committed checkpoint verifies in full, the restart resumes from the
/// newest committed step, finishes bit-identical to an uninterrupted run, and leaves no leftover behind.
/// </summary>
public class CrashPointTests() : WorkDirectoryFixture("spotckpt-crash-points")
{
    // 40 steps, a checkpoint every 4: ten commits, retention (KeepLast 3) starts deleting at the fourth.
    private static readonly string[] Common = ["--steps", "40", "--checkpoint-every", "4", "--model-mb", "4", "--seed", "7", "--quiet", "--step-delay-ms", "5"];
    private string _straightHash = "";

    // One uninterrupted run is the reference of every test (runs are deterministic: docs/reliability.md).
    [OneTimeSetUp]
    public async Task RunStraight()
    {
        using var reference = new TempDirectory("spotckpt-crash-points");
        var straight = await SpotTrainerProcess.RunAsync(reference.Path, [.. Common, "--checkpoint-uri", Path.Combine(reference.Path, "straight")]);
        Assert.That(straight.ExitCode, Is.Zero, straight.StdErr);
        _straightHash = straight.Summary!.FinalStateSha256;
    }

    private static IEnumerable<TestCaseData> Points() =>
        CrashPointChecks.Matrix.Select(p => new TestCaseData(p.Point, p.Count).SetArgDisplayNames($"{p.Point}:{p.Count}"));

    [TestCaseSource(nameof(Points))]
    public async Task A_kill_at_the_crash_point_loses_nothing_committed(string point, int count)
    {
        var uri = Path.Combine(Work, $"{point}-{count}-{Guid.NewGuid():N}"); // fresh for every test case
        var store = new LocalFileStore(uri);
        SpotTrainerProcess.Outcome killed;
        await using (var running = SpotTrainerProcess.Start(Work, new Dictionary<string, string> { ["SPOTCKPT_CRASH_AT"] = $"{point}:{count}" },
            [.. Common, "--checkpoint-uri", uri]))
        {
            killed = await running.WaitAsync();
        }
        Assert.That(killed.ExitCode, Is.EqualTo(CrashPointChecks.KilledExitCode), killed.StdErr);
        Assert.That(killed.StdErr, Does.Contain($"crash point {point}:{count} reached"));
        var afterKill = await CrashPointChecks.InspectAsync(store);
        CrashPointChecks.AssertDiedAt(point, count, afterKill);

        // Kept so that a resume that is not bit-identical can be told apart (see Diagnose).
        var afterKillCopy = uri + "-after-kill";
        CopyDirectory(uri, afterKillCopy);

        var resumed = await SpotTrainerProcess.RunAsync(Work, [.. Common, "--checkpoint-uri", uri]);
        Assert.That(resumed.ExitCode, Is.Zero, resumed.StdErr);
        Assert.That(resumed.Summary!.ResumedFromStep, Is.EqualTo(afterKill.Newest), "the restart resumes from the newest committed checkpoint");
        if (resumed.Summary.FinalStateSha256 != _straightHash)
        {
            var diagnosis = await Diagnose(afterKillCopy, afterKill.Newest);
            TestContext.Progress.WriteLine($"local {point}:{count}: not bit-identical; {diagnosis}");
            Assert.Fail($"bit-identical to an uninterrupted run: {diagnosis}");
        }
        CrashPointChecks.AssertNoLeftovers(await CrashPointChecks.InspectAsync(store));
        TestContext.Out.WriteLine($"local {point}:{count}: after the kill {afterKill}; resumed from {resumed.Summary.ResumedFromStep?.ToString() ?? "scratch"}");
    }

    /// <summary>
    /// Tells the two causes of a resume that is not bit-identical apart: the restored state itself differs from an
    /// uninterrupted run's at that step (a checkpoint or restore defect), or it is identical and only the training
    /// after it diverged (then a second resume of the same store shows whether the process is nondeterministic).
    /// </summary>
    private async Task<string> Diagnose(string afterKill, long? step)
    {
        if (step is not long s) return "resumed from scratch";
        var restoreOnly = afterKill + "-restore";
        CopyDirectory(afterKill, restoreOnly);
        var restored = await SpotTrainerProcess.RunAsync(Work, [.. Common, "--stop-at", $"{s}", "--checkpoint-uri", restoreOnly]);
        var reference = await SpotTrainerProcess.RunAsync(Work, [.. Common, "--stop-at", $"{s}", "--checkpoint-uri", afterKill + "-reference"]);
        var again = await SpotTrainerProcess.RunAsync(Work, [.. Common, "--checkpoint-uri", afterKill]);
        bool stateExact = restored.Summary?.FinalStateSha256 == reference.Summary?.FinalStateSha256;
        bool replayExact = again.Summary?.FinalStateSha256 == _straightHash;
        return (stateExact
                ? $"the state restored at step {s} equals an uninterrupted run's at that step (the checkpoint is exact)"
                : $"the state restored at step {s} differs from an uninterrupted run's at that step (a checkpoint or restore defect)") +
            $"; a second resume of the same store {(replayExact ? "is" : "is not")} bit-identical";
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var directory in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(directory.Replace(from, to, StringComparison.Ordinal));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, file.Replace(from, to, StringComparison.Ordinal));
    }
}
