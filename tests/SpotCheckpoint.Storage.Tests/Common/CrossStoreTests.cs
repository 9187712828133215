using SpotCheckpoint.Format;
using SpotCheckpoint.Storage.Tests.Emulators;

namespace SpotCheckpoint.Storage.Tests.Common;

/// <summary>The format does not depend on the store: a checkpoint copied byte for byte between stores restores identically.</summary>
public sealed class CrossStoreTests
{
    [Test]
    public async Task A_checkpoint_copied_byte_for_byte_through_every_store_restores_identically()
    {
        var local = Path.Combine(Path.GetTempPath(), "spotckpt-cross", Guid.NewGuid().ToString("N"));
        try
        {
            string expected;
            ICheckpointStore source = new LocalFileStore(local);
            using (var model = TestModels.Create(megabytes: 6, seed: 9))
            {
                await using var writer = TestModels.Checkpointer(source, model);
                writer.Step(3);
                await writer.CheckpointAsync();
                expected = writer.ComputeStateSha256();
            }
            var chain = new List<ICheckpointStore> { source };
            foreach (var provider in new[] { Provider.S3, Provider.AzureBlob, Provider.Gcs })
                chain.Add(TestStores.Create(provider, TestStores.UniquePrefix("cross")));
            chain.Add(new LocalFileStore(local + "-back"));

            for (int i = 1; i < chain.Count; i++)
            {
                await CopyAsync(chain[i - 1], chain[i], "run/");
                using var model = TestModels.Create(megabytes: 6, seed: 10);
                await using var restorer = TestModels.Checkpointer(chain[i], model);
                var resumed = await restorer.ResumeAsync();
                Assert.That(resumed.Step, Is.EqualTo(3), chain[i].Description);
                Assert.That(restorer.ComputeStateSha256(), Is.EqualTo(expected), chain[i].Description);
            }
            foreach (var store in chain) await store.DisposeAsync();
        }
        finally
        {
            foreach (var dir in new[] { local, local + "-back" })
                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task CopyAsync(ICheckpointStore from, ICheckpointStore to, string prefix)
    {
        var objects = new List<StoredObject>();
        await foreach (var o in from.ListAsync(prefix)) objects.Add(o);
        // Shards first, manifests last: the copy commits like a writer does.
        foreach (var o in objects.OrderBy(o => o.Key.EndsWith(StoreKeys.ManifestFileName, StringComparison.Ordinal)))
        {
            var bytes = new byte[o.Length];
            Assert.That(await from.ReadAsync(o.Key, 0, bytes), Is.EqualTo(o.Length));
            if (o.Key.EndsWith(StoreKeys.ManifestFileName, StringComparison.Ordinal))
            {
                await to.CreateExclusiveAsync(o.Key, bytes);
                continue;
            }
            await using var writer = await to.OpenWriteAsync(o.Key);
            await writer.WriteAsync(bytes);
            await writer.CompleteAsync();
        }
    }
}
