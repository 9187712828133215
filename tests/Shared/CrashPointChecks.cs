using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Testing;

/// <summary>
/// What the crash harness checks in a store after a kill, for the local store and the object stores alike: every
/// committed checkpoint verifies in full (not only the newest), and the uncommitted objects are where the crash point
/// says the process died. Shared by the integration and storage test projects (linked source).
/// </summary>
internal static class CrashPointChecks
{
    /// <summary>The run id the sample trainer uses.</summary>
    public const string RunId = "demo";

    /// <summary>The trainer's default KeepLast; retention deletes the oldest at the (KeepLast + 1)-th commit.</summary>
    public const int KeepLast = 3;

    /// <summary>
    /// The crash points of <c>SPOTCKPT_CRASH_AT</c> (the contract in src/SpotCheckpoint/Diagnostics/CrashPoints.cs),
    /// each with the hit count used: the second shard and the second commit, so that an older committed checkpoint
    /// exists to verify and resume from; retention's first delete, which happens at the fourth commit.
    /// </summary>
    public static readonly (string Point, int Count)[] Matrix =
    [
        ("after-shard", 2),
        ("before-manifest", 2),
        ("after-manifest", 2),
        ("mid-retention", 1),
    ];

    /// <summary>The exit code of a process that died of SIGKILL, as .NET reports it.</summary>
    public const int KilledExitCode = 128 + 9;

    /// <summary>What a store holds for the run.</summary>
    /// <param name="Committed">Steps with a manifest, newest first; every one verified in full.</param>
    /// <param name="Uncommitted">Steps with objects but no manifest, and their keys.</param>
    /// <param name="Unnamed">Objects inside committed steps that their manifest does not name.</param>
    public sealed record StoreState(IReadOnlyList<long> Committed, IReadOnlyDictionary<long, IReadOnlyList<string>> Uncommitted, IReadOnlyList<string> Unnamed)
    {
        /// <summary>The newest committed step, or null.</summary>
        public long? Newest => Committed.Count == 0 ? null : Committed[0];

        /// <inheritdoc />
        public override string ToString() =>
            $"committed [{string.Join(", ", Committed)}]; uncommitted [{string.Join(", ", Uncommitted.Select(kv => $"{kv.Key}: {kv.Value.Count} object(s)"))}]; unnamed {Unnamed.Count}";
    }

    /// <summary>Lists the run, verifies every committed checkpoint in full (sizes, header and tensor checksums), and sorts the rest.</summary>
    public static async Task<StoreState> InspectAsync(ICheckpointStore store)
    {
        var committed = new List<long>();
        var unnamed = new List<string>();
        foreach (var listing in await CheckpointCatalog.ListAsync(store, RunId))
        {
            var reader = await CheckpointReader.OpenAsync(store, RunId, listing.Step);
            try
            {
                await reader.VerifyAllAsync();
            }
            catch (CheckpointException ex)
            {
                Assert.Fail($"committed checkpoint at step {listing.Step} does not verify: {ex.Message}");
            }
            committed.Add(listing.Step);
        }
        var byStep = new SortedDictionary<long, List<string>>();
        await foreach (var obj in store.ListAsync(RunId + "/"))
        {
            var rest = obj.Key[(RunId.Length + 1)..];
            if (!rest.StartsWith("step-", StringComparison.Ordinal) || rest.IndexOf('/') is not (> 5 and var slash)) continue;
            if (!long.TryParse(rest[5..slash], out var step)) continue;
            if (!byStep.TryGetValue(step, out var keys)) byStep[step] = keys = [];
            keys.Add(obj.Key);
        }
        var uncommitted = new Dictionary<long, IReadOnlyList<string>>();
        foreach (var (step, keys) in byStep)
        {
            if (!committed.Contains(step))
            {
                uncommitted[step] = keys;
                continue;
            }
            var reader = await CheckpointReader.OpenAsync(store, RunId, step);
            var named = reader.Manifest.Shards.Select((_, i) => reader.ShardKey(i)).Append(listingKey(step)).ToHashSet(StringComparer.Ordinal);
            unnamed.AddRange(keys.Where(k => !named.Contains(k)));
        }
        return new StoreState(committed, uncommitted, unnamed);

        static string listingKey(long step) => $"{RunId}/step-{step:D8}/manifest.json";
    }

    /// <summary>
    /// Asserts that the store shows the process died exactly at <paramref name="point"/>'s <paramref name="count"/>-th
    /// hit: a complete shard of the checkpoint being written and no manifest for it (after-shard, before-manifest);
    /// exactly <paramref name="count"/> commits (after-manifest); a full set of KeepLast commits next to the oldest
    /// step, half deleted — manifest gone, shards left (mid-retention).
    /// </summary>
    public static void AssertDiedAt(string point, int count, StoreState state)
    {
        bool ShardsAbove(long? step) => state.Uncommitted.Any(kv => kv.Key > (step ?? -1) && kv.Value.Any(k => k.EndsWith(".safetensors", StringComparison.Ordinal)));
        switch (point)
        {
            case "after-shard":
                Assert.That(ShardsAbove(state.Newest), Is.True, $"a complete shard of the checkpoint being written, no manifest: {state}");
                break;
            case "before-manifest":
                Assert.That(state.Committed, Has.Count.EqualTo(count - 1), $"the checkpoints before the killed one: {state}");
                Assert.That(ShardsAbove(state.Newest), Is.True, $"the killed checkpoint's shards, no manifest: {state}");
                break;
            case "after-manifest":
                Assert.That(state.Committed, Has.Count.EqualTo(count), $"the killed checkpoint is committed: {state}");
                break;
            case "mid-retention":
                Assert.That(state.Committed, Has.Count.EqualTo(KeepLast), $"retention had removed one manifest: {state}");
                Assert.That(state.Uncommitted.Keys.Any(s => s < state.Committed[^1]), Is.True, $"the oldest step half deleted: {state}");
                break;
            default:
                Assert.Fail($"unknown crash point {point}");
                break;
        }
    }

    /// <summary>After a run that finished, retention has removed every leftover: nothing but committed, named objects.</summary>
    public static void AssertNoLeftovers(StoreState state)
    {
        Assert.That(state.Uncommitted, Is.Empty, $"leftovers of killed writes are removed by the finished run: {state}");
        Assert.That(state.Unnamed, Is.Empty, $"no object in a committed step that its manifest does not name: {state}");
        Assert.That(state.Committed, Has.Count.EqualTo(KeepLast), $"KeepLast checkpoints remain: {state}");
    }
}
