using SpotCheckpoint.Format;
using SpotCheckpoint.Storage.Tests.Emulators;
using SpotCheckpoint.Testing;

namespace SpotCheckpoint.Storage.Tests.Common;

/// <summary>
/// Incremental checkpoints on the S3 and Azure emulators: the sample trainer (fc2 frozen) killed between its chunk
/// writes and the manifest loses nothing committed and resumes bit-identical; the chunk collector then removes exactly
/// the packs no kept checkpoint references, and a collector killed after its first delete breaks no kept checkpoint.
/// </summary>
public sealed class IncrementalCrashPointTests() : WorkDirectoryFixture("spotckpt-store-incr")
{
    private static readonly string[] Args = ["--steps", "40", "--checkpoint-every", "4", "--model-mb", "4", "--seed", "7", "--quiet",
        "--step-delay-ms", "5", "--incremental", "--freeze", "fc2"];
    private string? _straightHash;

    // One uninterrupted run is the reference of every test (runs are deterministic: docs/reliability.md).
    private async Task RunStraightAsync(Dictionary<string, string> env)
    {
        if (_straightHash is not null) return;
        var straight = await TrainerProcess.RunAsync(Work, env, [.. Args, "--checkpoint-uri", Path.Combine(Work, "straight")]);
        Assert.That(straight.ExitCode, Is.Zero, straight.StdErr);
        _straightHash = straight.Summary!.FinalStateSha256;
    }

    private static async Task<HashSet<string>> ReferencedAsync(ICheckpointStore store)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var listing in await CheckpointCatalog.ListAsync(store, CrashPointChecks.RunId))
            foreach (var key in (await CheckpointReader.OpenAsync(store, CrashPointChecks.RunId, listing.Step)).DataKeys()) keys.Add(key);
        return keys;
    }

    private static async Task<HashSet<string>> PacksAsync(ICheckpointStore store)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var obj in store.ListAsync(StoreKeys.ChunksPrefix(CrashPointChecks.RunId))) keys.Add(obj.Key);
        return keys;
    }

    [TestCase(Provider.S3)]
    [TestCase(Provider.AzureBlob)]
    public async Task A_kill_after_the_chunks_loses_nothing_and_the_collector_keeps_exactly_the_referenced_packs(Provider provider)
    {
        var e = EmulatorEndpoints.Require();
        var env = TrainerProcess.EmulatorEnvironment(e);
        await RunStraightAsync(env);
        var prefix = TestStores.UniquePrefix("incr-crash");
        await using var store = TestStores.Create(provider, prefix);
        var uri = provider == Provider.S3 ? $"s3://{e.S3Bucket}/{prefix}" : $"az://{e.AzureContainer}/{prefix}";

        var killed = await TrainerProcess.RunAsync(Work, new Dictionary<string, string>(env) { ["SPOTCKPT_CRASH_AT"] = "after-chunks:2" }, [.. Args, "--checkpoint-uri", uri]);
        Assert.That(killed.ExitCode, Is.EqualTo(CrashPointChecks.KilledExitCode), killed.StdErr);
        var afterKill = await CrashPointChecks.InspectAsync(store);
        Assert.That(afterKill.Committed, Is.EqualTo(new long[] { 4 }), afterKill.ToString());
        Assert.That((await PacksAsync(store)).Any(k => k.Contains("/00000008-", StringComparison.Ordinal)), Is.True, "the killed checkpoint's chunks were written");

        var resumed = await TrainerProcess.RunAsync(Work, env, [.. Args, "--checkpoint-uri", uri]);
        Assert.That(resumed.ExitCode, Is.Zero, resumed.StdErr);
        Assert.That(resumed.Summary!.ResumedFromStep, Is.EqualTo(4));
        Assert.That(resumed.Summary.FinalStateSha256, Is.EqualTo(_straightHash), "bit-identical to an uninterrupted run");
        CrashPointChecks.AssertNoLeftovers(await CrashPointChecks.InspectAsync(store));

        // The shortest age: every unreferenced pack (the killed attempt's, the deleted checkpoints') is collectable.
        await CheckpointCatalog.ApplyRetentionAsync(store, CrashPointChecks.RunId, keepLast: 1, incompleteMaxAge: TimeSpan.FromTicks(1));
        var kept = await CrashPointChecks.InspectAsync(store);
        Assert.That(kept.Committed, Is.EqualTo(new long[] { 40 }));
        Assert.That(await PacksAsync(store), Is.EquivalentTo(await ReferencedAsync(store)), "exactly the packs the kept checkpoint references");
    }

    [TestCase(Provider.S3)]
    [TestCase(Provider.AzureBlob)]
    public async Task A_prune_killed_inside_the_chunk_collector_never_breaks_a_kept_checkpoint(Provider provider)
    {
        var e = EmulatorEndpoints.Require();
        var env = TrainerProcess.EmulatorEnvironment(e);
        await RunStraightAsync(env);
        var prefix = TestStores.UniquePrefix("incr-gc");
        await using var store = TestStores.Create(provider, prefix);
        var uri = provider == Provider.S3 ? $"s3://{e.S3Bucket}/{prefix}" : $"az://{e.AzureContainer}/{prefix}";
        var run = await TrainerProcess.RunAsync(Work, env, [.. Args, "--checkpoint-uri", uri]);
        Assert.That(run.ExitCode, Is.Zero, run.StdErr);
        var before = await PacksAsync(store);
        Assert.That(before, Has.Count.GreaterThan((await ReferencedAsync(store)).Count), "the deleted checkpoints' packs wait for the collector's age");

        // The collector's age is wall-clock time since a pack was stored: let the newest pass the 1 s given to prune.
        var newest = DateTimeOffset.MinValue;
        await foreach (var obj in store.ListAsync(StoreKeys.ChunksPrefix(CrashPointChecks.RunId)))
            if (obj.LastModified > newest) newest = obj.LastModified.Value;
        var wait = newest + TimeSpan.FromSeconds(2) - DateTimeOffset.UtcNow;
        if (wait > TimeSpan.Zero) await Task.Delay(wait);

        var runUri = $"{uri}/{CrashPointChecks.RunId}";
        var killed = await TrainerProcess.RunSpotckptAsync(Work, new Dictionary<string, string>(env) { ["SPOTCKPT_CRASH_AT"] = "mid-gc:1" },
            "prune", runUri, "--keep", "1", "--incomplete-older-than", "1s");
        Assert.That(killed.ExitCode, Is.EqualTo(CrashPointChecks.KilledExitCode), killed.Output);
        Assert.That(killed.Output, Does.Contain("crash point mid-gc:1 reached"));
        var afterKill = await CrashPointChecks.InspectAsync(store);
        Assert.That(afterKill.Committed, Is.EqualTo(new long[] { 40 }), "the manifests went first; the kept checkpoint verifies in full");
        var packs = await PacksAsync(store);
        Assert.That(packs, Has.Count.EqualTo(before.Count - 1), "killed after its first delete");
        Assert.That(await ReferencedAsync(store), Is.SubsetOf(packs), "no manifest points at a missing chunk");

        var again = await TrainerProcess.RunSpotckptAsync(Work, env, "prune", runUri, "--keep", "1", "--incomplete-older-than", "1s");
        Assert.That(again.ExitCode, Is.Zero, again.Output);
        Assert.That(await PacksAsync(store), Is.EquivalentTo(await ReferencedAsync(store)), "the next pass removes the rest of the unreferenced packs");
        var resumed = await TrainerProcess.RunAsync(Work, env, [.. Args, "--checkpoint-uri", uri]);
        Assert.That(resumed.ExitCode, Is.Zero, resumed.StdErr);
        Assert.That(resumed.Summary!.ResumedFromStep, Is.EqualTo(40));
        Assert.That(resumed.Summary.FinalStateSha256, Is.EqualTo(_straightHash));
    }
}
