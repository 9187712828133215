using SpotCheckpoint.Format;
using SpotCheckpoint.Storage.Tests.Emulators;
using SpotCheckpoint.Storage.Tests.Proxy;

namespace SpotCheckpoint.Storage.Tests.Common;

/// <summary>
/// Checkpoints written through a proxy that resets connections, throttles (503 SlowDown), fails (500), truncates
/// bodies both ways and delays, at a set rate. Whatever happens to each attempt, a checkpoint that is committed is
/// whole: it verifies and restores to exactly the state it was taken from.
/// </summary>
[TestFixture(Provider.S3)]
[TestFixture(Provider.Gcs)]
[TestFixture(Provider.AzureBlob)]
public sealed class FaultInjectionTests(Provider provider)
{
    [Test]
    public async Task Faults_at_a_set_rate_never_yield_a_committed_but_broken_checkpoint()
    {
        var prefix = TestStores.UniquePrefix("faults");
        await using var proxy = await FaultProxy.StartAsync(TestStores.Upstream(provider));
        // A fixed seed keeps runs repeatable; SPOTCKPT_FAULT_SEED explores other fault sequences.
        int seed = int.TryParse(Environment.GetEnvironmentVariable("SPOTCKPT_FAULT_SEED"), out var chosen) ? chosen : 20;
        proxy.Plan.Seed(seed + (int)provider);
        proxy.Plan.Rate = 0.15;
        proxy.Plan.Delay = TimeSpan.FromMilliseconds(300);

        var hashes = new Dictionary<long, string>();
        int failed = 0;
        await using (var faulty = TestStores.Create(provider, prefix, proxy.Address.ToString(), o =>
        {
            // Fewer retries than in production so that some attempts really fail.
            switch (o)
            {
                case global::SpotCheckpoint.Storage.S3.S3StoreOptions s3: s3.MaxRetries = 1; s3.OperationTimeout = TimeSpan.FromSeconds(20); s3.RequestTimeout = TimeSpan.FromSeconds(5); break;
                case global::SpotCheckpoint.Storage.Gcs.GcsStoreOptions gcs: gcs.MaxRetries = 1; gcs.OperationTimeout = TimeSpan.FromSeconds(20); gcs.RequestTimeout = TimeSpan.FromSeconds(5); break;
                case global::SpotCheckpoint.Storage.AzureBlob.AzureBlobStoreOptions az: az.MaxRetries = 1; az.OperationTimeout = TimeSpan.FromSeconds(20); az.RequestTimeout = TimeSpan.FromSeconds(5); break;
            }
        }))
        using (var model = TestModels.Create(megabytes: 12, seed: 3))
        {
            await using var checkpointer = TestModels.Checkpointer(faulty, model);
            for (long step = 1; step <= 12; step++)
            {
                TestModels.Perturb(model);
                checkpointer.Step(step);
                var hash = checkpointer.ComputeStateSha256();
                try
                {
                    await checkpointer.CheckpointAsync();
                    hashes[step] = hash;
                }
                catch (CheckpointException)
                {
                    failed++;
                }
            }
        }
        var injected = proxy.Plan.Injected;
        TestContext.Out.WriteLine($"{provider}: {hashes.Count} committed, {failed} failed; faults {string.Join(", ", injected.Select(kv => $"{kv.Key}={kv.Value}"))} of {proxy.Plan.Requests} requests");
        Assert.That(injected.Values.Sum(), Is.GreaterThan(5), "the proxy injected faults");

        // Judge what the store holds, read directly from the emulator.
        await using var direct = TestStores.Create(provider, prefix);
        var committed = await CheckpointCatalog.ListAsync(direct, "run");
        Assert.That(committed, Is.Not.Empty, "some checkpoints got through");
        foreach (var listing in committed)
        {
            var reader = await CheckpointReader.OpenAsync(direct, "run", listing.Step);
            await reader.VerifyAllAsync();
            // A commit whose answer was lost can exist although the writer saw a failure; its state is known all the same.
            if (!hashes.TryGetValue(listing.Step, out var expected)) continue;
            using var model = TestModels.Create(megabytes: 12, seed: 4);
            await using var restorer = TestModels.Checkpointer(direct, model);
            var resume = await restorer.ResumeAsync();
            if (resume.Step != listing.Step) continue; // only the newest is resumed; older ones were verified above
            Assert.That(restorer.ComputeStateSha256(), Is.EqualTo(expected), $"step {listing.Step}");
        }
    }

    [Test]
    public async Task A_request_body_cut_short_on_the_way_is_caught_and_nothing_is_committed()
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
        Assert.That(await CheckpointCatalog.ListAsync(direct, "run"), Is.Empty);
    }
}
