using System.Diagnostics;
using System.Reflection;
using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Testing;

namespace SpotCheckpoint.IntegrationTests;

/// <summary>
/// Crash points of incremental checkpoints on the local store: the trainer killed between its chunk writes and the
/// manifest, and <c>spotckpt prune</c> killed inside the chunk collector. Nothing committed is lost, no manifest points
/// at a missing chunk, and the run resumes bit-identical.
/// </summary>
public class IncrementalCrashPointTests() : WorkDirectoryFixture("spotckpt-incr-crash")
{
    private static readonly string SpotckptPath = Path.GetFullPath(
        typeof(IncrementalCrashPointTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "SpotckptPath").Value!);

    // 40 steps, a checkpoint every 4, fc2 (most of the bytes) frozen: ten incremental commits sharing fc2's chunks.
    private static readonly string[] Common = ["--steps", "40", "--checkpoint-every", "4", "--model-mb", "4", "--seed", "7", "--quiet",
        "--step-delay-ms", "5", "--incremental", "--freeze", "fc2"];
    private string _straightHash = "";

    // One uninterrupted run is the reference of every test (runs are deterministic: docs/reliability.md).
    [OneTimeSetUp]
    public async Task RunStraight()
    {
        using var reference = new TempDirectory("spotckpt-incr-crash");
        var straight = await SpotTrainerProcess.RunAsync(reference.Path, [.. Common, "--checkpoint-uri", Path.Combine(reference.Path, "straight")]);
        Assert.That(straight.ExitCode, Is.Zero, straight.StdErr);
        _straightHash = straight.Summary!.FinalStateSha256;
    }

    private static async Task<HashSet<string>> ReferencedPacksAsync(ICheckpointStore store)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var listing in await CheckpointCatalog.ListAsync(store, CrashPointChecks.RunId))
            foreach (var key in (await CheckpointReader.OpenAsync(store, CrashPointChecks.RunId, listing.Step)).DataKeys()) keys.Add(key);
        return keys;
    }

    [TestCase("after-chunks", 2)]
    [TestCase("after-shard", 2)]
    public async Task A_trainer_killed_between_its_chunks_and_its_manifest_loses_nothing_committed(string point, int count)
    {
        var uri = Path.Combine(Work, $"{point}-{count}-{Guid.NewGuid():N}"); // fresh for every test case
        await using var store = new LocalFileStore(uri);
        SpotTrainerProcess.Outcome killed;
        await using (var running = SpotTrainerProcess.Start(Work, new Dictionary<string, string> { ["SPOTCKPT_CRASH_AT"] = $"{point}:{count}" }, [.. Common, "--checkpoint-uri", uri]))
        {
            killed = await running.WaitAsync();
        }
        Assert.That(killed.ExitCode, Is.EqualTo(CrashPointChecks.KilledExitCode), killed.StdErr);
        var afterKill = await CrashPointChecks.InspectAsync(store); // every committed checkpoint verifies, every chunk it names included
        Assert.That(afterKill.Committed, Is.EqualTo(new long[] { 4 }), $"only the first checkpoint is committed: {afterKill}");
        var packs = (await Cli.ObjectsAsync(store, StoreKeys.ChunksPrefix(CrashPointChecks.RunId))).Keys;
        Assert.That(packs.Any(k => k.Contains("/00000008-", StringComparison.Ordinal)), Is.True, "the killed checkpoint's chunks were written");
        Assert.That(await ReferencedPacksAsync(store), Is.SubsetOf(packs));

        var resumed = await SpotTrainerProcess.RunAsync(Work, [.. Common, "--checkpoint-uri", uri]);
        Assert.That(resumed.ExitCode, Is.Zero, resumed.StdErr);
        Assert.That(resumed.Summary!.ResumedFromStep, Is.EqualTo(4));
        Assert.That(resumed.Summary.BytesReused, Is.GreaterThan(0), "the resumed run reuses the chunks of the checkpoint it resumed from");
        Assert.That(resumed.Summary.FinalStateSha256, Is.EqualTo(_straightHash));
        CrashPointChecks.AssertNoLeftovers(await CrashPointChecks.InspectAsync(store));
    }

    [Test]
    public async Task A_prune_killed_inside_the_chunk_collector_never_breaks_a_kept_checkpoint()
    {
        var uri = Path.Combine(Work, $"mid-gc-{Guid.NewGuid():N}"); // fresh for every test case
        var run = await SpotTrainerProcess.RunAsync(Work, [.. Common, "--checkpoint-uri", uri]);
        Assert.That(run.ExitCode, Is.Zero, run.StdErr);
        // Every pack older than the collector's age (set back, instead of waiting an hour).
        foreach (var file in Directory.GetFiles(Path.Combine(uri, CrashPointChecks.RunId, StoreKeys.ChunksFolderName)))
            File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddHours(-2));
        await using var store = new LocalFileStore(uri);
        int before = (await Cli.ObjectsAsync(store, StoreKeys.ChunksPrefix(CrashPointChecks.RunId))).Count;

        var killed = await SpotckptAsync(new() { ["SPOTCKPT_CRASH_AT"] = "mid-gc:1" }, "prune", Path.Combine(uri, CrashPointChecks.RunId), "--keep", "1");
        Assert.That(killed.Exit, Is.EqualTo(CrashPointChecks.KilledExitCode), killed.Error);
        Assert.That(killed.Error, Does.Contain("crash point mid-gc:1 reached"));
        var afterKill = await CrashPointChecks.InspectAsync(store);
        Assert.That(afterKill.Committed, Is.EqualTo(new long[] { 40 }), "the manifests went first");
        var packs = (await Cli.ObjectsAsync(store, StoreKeys.ChunksPrefix(CrashPointChecks.RunId))).Keys;
        Assert.That(packs, Has.Count.EqualTo(before - 1), "killed after its first delete");
        Assert.That(await ReferencedPacksAsync(store), Is.SubsetOf(packs), "no manifest points at a missing chunk");

        var again = await SpotckptAsync(new(), "prune", Path.Combine(uri, CrashPointChecks.RunId), "--keep", "1");
        Assert.That(again.Exit, Is.Zero, again.Error);
        Assert.That((await Cli.ObjectsAsync(store, StoreKeys.ChunksPrefix(CrashPointChecks.RunId))).Keys, Is.EquivalentTo(await ReferencedPacksAsync(store)),
            "the next pass removes the rest of the unreferenced packs");
        var resumed = await SpotTrainerProcess.RunAsync(Work, [.. Common, "--checkpoint-uri", uri]);
        Assert.That(resumed.ExitCode, Is.Zero, resumed.StdErr);
        Assert.That(resumed.Summary!.ResumedFromStep, Is.EqualTo(40));
        Assert.That(resumed.Summary.FinalStateSha256, Is.EqualTo(_straightHash));
    }

    private async Task<(int Exit, string Output, string Error)> SpotckptAsync(Dictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Work };
        start.ArgumentList.Add(SpotckptPath);
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (name, value) in environment) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    /// <summary>Store helpers of these tests.</summary>
    private static class Cli
    {
        public static async Task<Dictionary<string, long>> ObjectsAsync(ICheckpointStore store, string prefix)
        {
            var objects = new Dictionary<string, long>(StringComparer.Ordinal);
            await foreach (var obj in store.ListAsync(prefix)) objects[obj.Key] = obj.Length;
            return objects;
        }
    }
}
