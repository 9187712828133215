using System.Diagnostics;
using SpotCheckpoint.Format;
using SpotCheckpoint.Storage.Tests.Emulators;

namespace SpotCheckpoint.Storage.Tests.Common;

/// <summary>A 200+ MB checkpoint per store: saved with parts in parallel, verified byte by byte, restored bit-identically.</summary>
[TestFixture(Provider.S3)]
[TestFixture(Provider.Gcs)]
[TestFixture(Provider.AzureBlob)]
public sealed class LargeCheckpointTests(Provider provider)
{
    [Test]
    public async Task A_200_MB_checkpoint_saves_verifies_and_restores_bit_identically()
    {
        await using var store = TestStores.Create(provider, TestStores.UniquePrefix("large"));
        string expected;
        long bytes;
        var clock = Stopwatch.StartNew();
        using (var model = TestModels.Create(megabytes: 210, seed: 1))
        {
            await using var writer = TestModels.Checkpointer(store, model);
            writer.Step(1);
            var result = await writer.CheckpointAsync();
            bytes = result!.Bytes;
            expected = writer.ComputeStateSha256();
        }
        var saved = clock.Elapsed;
        Assert.That(bytes, Is.GreaterThan(200_000_000L));

        var listing = await CheckpointCatalog.ListAsync(store, "run");
        Assert.That(listing.Select(l => l.Step), Is.EqualTo(new[] { 1L }));
        var reader = await CheckpointReader.OpenAsync(store, "run", 1);
        Assert.That(reader.Manifest.Shards, Has.Count.GreaterThan(1), "shards stay below the emulator's request limit");
        await reader.VerifyAllAsync();

        clock.Restart();
        using (var model = TestModels.Create(megabytes: 210, seed: 2))
        {
            await using var restorer = TestModels.Checkpointer(store, model);
            Assert.That(restorer.ComputeStateSha256(), Is.Not.EqualTo(expected));
            var resumed = await restorer.ResumeAsync();
            Assert.That(resumed.Step, Is.EqualTo(1));
            Assert.That(restorer.ComputeStateSha256(), Is.EqualTo(expected));
        }
        TestContext.Out.WriteLine($"{provider}: {bytes / 1e6:F0} MB saved in {saved.TotalSeconds:F1} s, restored in {clock.Elapsed.TotalSeconds:F1} s");
    }
}
