using System.Runtime.CompilerServices;
using SpotCheckpoint.Format;
using SpotCheckpoint.Storage.Tests.Emulators;
using SpotCheckpoint.Storage.Tests.Proxy;

namespace SpotCheckpoint.Storage.Tests.Common;

/// <summary>
/// Checkpoints written through a proxy that resets connections, throttles (503 SlowDown), fails (500), truncates
/// bodies both ways and delays, at a set rate, then every committed checkpoint restored through the same kind of
/// proxy. Whatever happens to each attempt, a checkpoint that is committed is whole: it verifies and restores to
/// exactly the state it was taken from; a write that failed leaves no shard behind once the run has cleaned up.
/// </summary>
[TestFixture(Provider.S3)]
[TestFixture(Provider.Gcs)]
[TestFixture(Provider.AzureBlob)]
public sealed class FaultInjectionTests(Provider provider)
{
    /// <summary>The fault rate of the proxy, both ways.</summary>
    public const double FaultRate = 0.15;

    /// <summary>Checkpoints attempted per store.</summary>
    public const int Attempts = 12;

    /// <summary>Faults the write phase must have injected at least, for the run to prove anything.</summary>
    public const int MinimumWriteFaults = 6;

    /// <summary>Faults the restore phase must have injected at least.</summary>
    public const int MinimumReadFaults = 2;

    [Test]
    public async Task Faults_at_a_set_rate_never_yield_a_committed_but_broken_checkpoint()
    {
        var prefix = TestStores.UniquePrefix("faults");
        // A fixed seed keeps runs repeatable; SPOTCKPT_FAULT_SEED explores other fault sequences.
        int seed = int.TryParse(Environment.GetEnvironmentVariable("SPOTCKPT_FAULT_SEED"), out var chosen) ? chosen : 20;
        var attempted = new Dictionary<long, string>();
        var failed = new List<long>();
        IReadOnlyDictionary<Fault, int> writeFaults;
        int writeRequests;
        await using (var proxy = await StartProxyAsync(seed + (int)provider))
        {
            await using (var faulty = TestStores.Create(provider, prefix, proxy.Address.ToString(), FewRetries))
            using (var model = TestModels.Create(megabytes: 12, seed: 3))
            {
                await using var checkpointer = KeepingAll(faulty, model);
                for (long step = 1; step <= Attempts; step++)
                {
                    TestModels.Perturb(model);
                    checkpointer.Step(step);
                    // A commit whose answer was lost can exist although the writer saw a failure: its state is known all the same.
                    attempted[step] = checkpointer.ComputeStateSha256();
                    try
                    {
                        await checkpointer.CheckpointAsync();
                    }
                    catch (CheckpointException)
                    {
                        failed.Add(step);
                    }
                }
            }
            writeFaults = proxy.Plan.Injected;
            writeRequests = proxy.Plan.Requests;
        }
        Assert.That(writeFaults.Values.Sum(), Is.GreaterThanOrEqualTo(MinimumWriteFaults), "the proxy injected faults into the writes");

        // Judge what the store holds, read directly from the emulator.
        await using var direct = TestStores.Create(provider, prefix);
        var committed = (await CheckpointCatalog.ListAsync(direct, "run")).Select(l => l.Step).OrderBy(s => s).ToList();
        Assert.That(committed, Is.Not.Empty, "some checkpoints got through");
        Assert.That(committed, Has.Count.LessThan(Attempts), "some checkpoints failed (else the faults proved nothing)");
        foreach (var step in committed) await (await CheckpointReader.OpenAsync(direct, "run", step)).VerifyAllAsync();

        // A failed write leaves nothing once the run has cleaned up: the writer's own clean-up, then retention after
        // a later commit (through the faults both may fail once; the last pass here runs without faults).
        int leftBeforeRetention = (await LeftoversAsync(direct, committed)).Count;
        await CheckpointCatalog.ApplyRetentionAsync(direct, "run", keepLast: Attempts, incompleteMaxAge: TimeSpan.FromDays(1));
        Assert.That(await LeftoversAsync(direct, committed), Is.Empty, "no shard of a failed write is left behind");
        TestContext.Out.WriteLine($"{provider}: {leftBeforeRetention} object(s) of failed writes left by the writers' own clean-up, none after retention");

        // Every committed checkpoint, restored through the faults (with the store's usual retries) and compared.
        IReadOnlyDictionary<Fault, int> readFaults;
        int readRequests;
        await using (var proxy = await StartProxyAsync(seed + 100 + (int)provider))
        {
            await using (var faulty = TestStores.Create(provider, prefix, proxy.Address.ToString()))
            {
                foreach (var step in committed)
                {
                    using var model = TestModels.Create(megabytes: 12, seed: 4);
                    await using var restorer = KeepingAll(new UpToStepStore(faulty, step), model);
                    var resume = await restorer.ResumeAsync();
                    Assert.That(resume.Step, Is.EqualTo(step), $"step {step} restored, not fallen back from: {string.Join("; ", resume.SkippedCheckpoints.Select(s => s.Message))}");
                    Assert.That(restorer.ComputeStateSha256(), Is.EqualTo(attempted[step]), $"step {step} restores bit-identically");
                }
            }
            readFaults = proxy.Plan.Injected;
            readRequests = proxy.Plan.Requests;
        }
        TestContext.Out.WriteLine($"{provider}: {committed.Count} committed, {failed.Count} reported failed of {Attempts}; " +
            $"write faults {Describe(writeFaults)} in {writeRequests} requests; restore faults {Describe(readFaults)} in {readRequests} requests; " +
            $"{committed.Count} restored bit-identically");
        Assert.That(readFaults.Values.Sum(), Is.GreaterThanOrEqualTo(MinimumReadFaults), "the proxy injected faults into the restores");
    }

    [Test]
    public async Task A_request_body_cut_short_on_the_way_is_caught_and_nothing_is_left()
    {
        var prefix = TestStores.UniquePrefix("cut");
        await using var proxy = await FaultProxy.StartAsync(TestStores.Upstream(provider));
        proxy.Plan.Kinds = [Fault.TruncateRequest];
        proxy.Plan.Rate = 1.0;
        await using (var faulty = TestStores.Create(provider, prefix, proxy.Address.ToString()))
        using (var model = TestModels.Create(megabytes: 3, seed: 5))
        {
            await using var checkpointer = TestModels.Checkpointer(faulty, model);
            checkpointer.Step(1);
            Assert.ThrowsAsync(Is.InstanceOf<CheckpointException>(), async () => await checkpointer.CheckpointAsync());
        }
        await using var direct = TestStores.Create(provider, prefix);
        Assert.That(await CheckpointCatalog.ListAsync(direct, "run"), Is.Empty, "nothing committed");
        var left = new List<string>();
        await foreach (var obj in direct.ListAsync("run/")) left.Add(obj.Key);
        Assert.That(left, Is.Empty, "the failed write's shards were removed");
    }

    private async Task<FaultProxy> StartProxyAsync(int seed)
    {
        var proxy = await FaultProxy.StartAsync(TestStores.Upstream(provider));
        proxy.Plan.Seed(seed);
        proxy.Plan.Rate = FaultRate;
        proxy.Plan.Delay = TimeSpan.FromMilliseconds(300);
        return proxy;
    }

    private static async Task<List<string>> LeftoversAsync(ICheckpointStore store, IReadOnlyList<long> committed)
    {
        var leftovers = new List<string>();
        await foreach (var obj in store.ListAsync("run/"))
        {
            if (!committed.Any(s => obj.Key.StartsWith($"run/step-{s:D8}/", StringComparison.Ordinal))) leftovers.Add(obj.Key);
        }
        return leftovers;
    }

    /// <summary>The test models' checkpointer, keeping every checkpoint: each committed one is restored and compared.</summary>
    private static Checkpointer KeepingAll(ICheckpointStore store, TorchSharp.torch.nn.Module model) =>
        new Checkpointer(store, new CheckpointerOptions
        {
            RunId = "run",
            MaxShardBytes = TestStores.ShardBytes,
            KeepLast = Attempts,
            Policy = Scheduling.CheckpointPolicy.EverySteps(1_000_000),
        }).AddModule("model", model);

    private static string Describe(IReadOnlyDictionary<Fault, int> faults) =>
        faults.Count == 0 ? "none" : string.Join(", ", faults.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value}"));

    /// <summary>Fewer retries than in production, so that some write attempts really fail.</summary>
    private static void FewRetries(object options)
    {
        switch (options)
        {
            case global::SpotCheckpoint.Storage.S3.S3StoreOptions s3: s3.MaxRetries = 1; s3.OperationTimeout = TimeSpan.FromSeconds(20); s3.RequestTimeout = TimeSpan.FromSeconds(5); break;
            case global::SpotCheckpoint.Storage.Gcs.GcsStoreOptions gcs: gcs.MaxRetries = 1; gcs.OperationTimeout = TimeSpan.FromSeconds(20); gcs.RequestTimeout = TimeSpan.FromSeconds(5); break;
            case global::SpotCheckpoint.Storage.AzureBlob.AzureBlobStoreOptions az: az.MaxRetries = 1; az.OperationTimeout = TimeSpan.FromSeconds(20); az.RequestTimeout = TimeSpan.FromSeconds(5); break;
        }
    }

    /// <summary>A view of a store in which checkpoints newer than one step are not listed, so that resume restores exactly that step.</summary>
    private sealed class UpToStepStore(ICheckpointStore inner, long step) : ICheckpointStore
    {
        public string Description => inner.Description;

        public ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default) => inner.OpenWriteAsync(key, cancellationToken);

        public ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) => inner.CreateExclusiveAsync(key, content, cancellationToken);

        public ValueTask<int> ReadAsync(string key, long offset, Memory<byte> destination, CancellationToken cancellationToken = default) => inner.ReadAsync(key, offset, destination, cancellationToken);

        public ValueTask<long?> GetLengthAsync(string key, CancellationToken cancellationToken = default) => inner.GetLengthAsync(key, cancellationToken);

        public async IAsyncEnumerable<StoredObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await foreach (var obj in inner.ListAsync(prefix, cancellationToken))
            {
                var slash = obj.Key.IndexOf("/step-", StringComparison.Ordinal);
                if (slash >= 0 && long.TryParse(obj.Key.AsSpan(slash + 6, 8), out var s) && s > step) continue;
                yield return obj;
            }
        }

        public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, cancellationToken);

        public ValueTask<int> CleanupIncompleteAsync(string prefix, TimeSpan olderThan, CancellationToken cancellationToken = default) => inner.CleanupIncompleteAsync(prefix, olderThan, cancellationToken);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask; // the inner store is the caller's
    }
}
