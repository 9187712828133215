using SpotCheckpoint.Testing;
using SpotCheckpoint.Format;
using SpotCheckpoint.Storage.Tests.Emulators;

namespace SpotCheckpoint.Storage.Tests.Common;

/// <summary>
/// The crash-consistency harness against object stores: the sample trainer writes to the S3 or Azure emulator and
/// is killed (SIGKILL) at random moments — mid-upload and mid-commit included — and restarted until it finishes.
/// Every restart resumes from the newest committed checkpoint, every committed checkpoint verifies, and the final
/// state equals an uninterrupted run's. SPOTCKPT_CRASH_KILLS sets the number of kills (default 4 per store here).
/// </summary>
public sealed class CrashConsistencyTests() : WorkDirectoryFixture("spotckpt-store-crash")
{

    // 40 steps, a checkpoint every 4: ten commits, retention (KeepLast 3) starts deleting at the fourth.
    private static readonly string[] PointArgs = ["--steps", "40", "--checkpoint-every", "4", "--model-mb", "4", "--seed", "7", "--quiet", "--step-delay-ms", "5"];
    private static string? _pointStraightHash;

    private static IEnumerable<TestCaseData> Points() =>
        from provider in new[] { Provider.S3, Provider.AzureBlob }
        from p in CrashPointChecks.Matrix
        select new TestCaseData(provider, p.Point, p.Count).SetArgDisplayNames(provider.ToString(), $"{p.Point}:{p.Count}");

    /// <summary>
    /// The sample trainer killed (SIGKILL) at each deterministic crash point (<c>SPOTCKPT_CRASH_AT</c>) while writing to
    /// the emulator: the store shows it died exactly there, every committed checkpoint verifies in full, the restart
    /// resumes from the newest committed step, ends bit-identical to an uninterrupted run, and leaves no leftover.
    /// </summary>
    [TestCaseSource(nameof(Points))]
    public async Task A_kill_at_the_crash_point_loses_nothing_committed(Provider provider, string point, int count)
    {
        var e = EmulatorEndpoints.Require();
        var env = TrainerProcess.EmulatorEnvironment(e);
        if (_pointStraightHash is null)
        {
            var straight = await TrainerProcess.RunAsync(Work, env, [.. PointArgs, "--checkpoint-uri", Path.Combine(Work, "straight")]);
            Assert.That(straight.ExitCode, Is.Zero, straight.StdErr);
            _pointStraightHash = straight.Summary!.FinalStateSha256;
        }
        var prefix = TestStores.UniquePrefix("crash-point");
        await using var store = TestStores.Create(provider, prefix);
        var uri = provider == Provider.S3 ? $"s3://{e.S3Bucket}/{prefix}" : $"az://{e.AzureContainer}/{prefix}";

        var killed = await TrainerProcess.RunAsync(Work, new Dictionary<string, string>(env) { ["SPOTCKPT_CRASH_AT"] = $"{point}:{count}" },
            [.. PointArgs, "--checkpoint-uri", uri]);
        Assert.That(killed.ExitCode, Is.EqualTo(CrashPointChecks.KilledExitCode), killed.StdErr);
        Assert.That(killed.StdErr, Does.Contain($"crash point {point}:{count} reached"));
        var afterKill = await CrashPointChecks.InspectAsync(store);
        CrashPointChecks.AssertDiedAt(point, count, afterKill);

        var resumed = await TrainerProcess.RunAsync(Work, env, [.. PointArgs, "--checkpoint-uri", uri]);
        Assert.That(resumed.ExitCode, Is.Zero, resumed.StdErr);
        Assert.That(resumed.Summary!.ResumedFromStep, Is.EqualTo(afterKill.Newest), "the restart resumes from the newest committed checkpoint");
        Assert.That(resumed.Summary.FinalStateSha256, Is.EqualTo(_pointStraightHash), "bit-identical to an uninterrupted run");
        CrashPointChecks.AssertNoLeftovers(await CrashPointChecks.InspectAsync(store));
        TestContext.Out.WriteLine($"{provider} {point}:{count}: after the kill {afterKill}; resumed from {resumed.Summary.ResumedFromStep?.ToString() ?? "scratch"}");
    }

    private static int Kills => int.TryParse(System.Environment.GetEnvironmentVariable("SPOTCKPT_CRASH_KILLS"), out var n) && n > 0 ? n : 4;

    [TestCase(Provider.S3)]
    [TestCase(Provider.AzureBlob)]
    public async Task Random_kills_never_lose_committed_work_nor_change_the_result(Provider provider)
    {
        var e = EmulatorEndpoints.Require();
        var env = TrainerProcess.EmulatorEnvironment(e);
        string[] common = ["--steps", "40", "--checkpoint-every", "4", "--model-mb", "8", "--seed", "5", "--quiet", "--step-delay-ms", "5"];
        var straight = await TrainerProcess.RunAsync(Work, env, [.. common, "--checkpoint-uri", Path.Combine(Work, "straight")]);
        Assert.That(straight.ExitCode, Is.Zero, straight.StdErr);

        // A series ends when a restart outlives its kill time (each restart keeps what was committed, so every run
        // gets through in the end); the long mode runs series on fresh prefixes until it has all its kills.
        var random = new Random(provider == Provider.S3 ? 11 : 12);
        int kills = 0, runs = 0, series = 0;
        while (series == 0 || kills < Kills)
        {
            series++;
            var prefix = TestStores.UniquePrefix("crash");
            await using var store = TestStores.Create(provider, prefix);
            var uri = provider == Provider.S3 ? $"s3://{e.S3Bucket}/{prefix}" : $"az://{e.AzureContainer}/{prefix}";
            int seriesRuns = 0;
            TrainerProcess.Outcome? finished = null;
            while (finished is null)
            {
                Assert.That(seriesRuns, Is.LessThan(Kills + 20), "the run must finish");
                var listed = await CheckpointCatalog.ListAsync(store, "demo");
                long? newest = listed.Count == 0 ? null : listed[0].Step;
                bool kill = kills < Kills;
                var run = await TrainerProcess.RunAsync(Work, env, kill ? TimeSpan.FromMilliseconds(1500 + random.Next(3000)) : null,
                    [.. common, "--checkpoint-uri", uri]);
                runs++;
                seriesRuns++;
                if (run.ExitCode == -9) kills++;
                else
                {
                    Assert.That(run.ExitCode, Is.Zero, run.StdErr);
                    finished = run;
                    Assert.That(run.Summary!.ResumedFromStep, Is.EqualTo(newest), "a restart resumes from the newest committed checkpoint");
                }
                await CrashPointChecks.InspectAsync(store); // every committed checkpoint verifies in full, not only the newest
            }
            Assert.That(finished.Summary!.FinalStateSha256, Is.EqualTo(straight.Summary!.FinalStateSha256), $"series {series} ends bit-identical to an uninterrupted run");
            Assert.That(finished.StdErr, Does.Not.Contain(TestStores.S3rverKey).And.Not.Contain("AccountKey"), "no credentials in the output");
        }
        TestContext.Out.WriteLine($"{provider}: {kills} kills survived in {runs} runs over {series} series");
    }
}
