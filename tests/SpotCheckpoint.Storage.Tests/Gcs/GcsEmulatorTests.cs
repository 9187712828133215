using SpotCheckpoint.Testing;
using SpotCheckpoint.Storage.Gcs;
using SpotCheckpoint.Storage.Tests.Emulators;

namespace SpotCheckpoint.Storage.Tests.Gcs;

/// <summary>What the GCS store does where the emulator misbehaves.</summary>
public sealed class GcsEmulatorTests
{
    [Test]
    public async Task A_store_that_keeps_only_the_first_chunk_is_caught_loudly_and_nothing_stays_visible()
    {
        // Production chunking (several 256 KiB-multiple chunks) against the emulator, which finalizes on the first.
        var e = EmulatorEndpoints.Require();
        var options = TestStores.GcsOptions(e, TestStores.UniquePrefix("chunks"));
        options.ChunkSize = GcsStoreOptions.ChunkGranularity;
        await using var store = new GcsCheckpointStore(options);
        var data = new byte[3 * GcsStoreOptions.ChunkGranularity + 5];
        new Random(12).NextBytes(data);
        await using (var writer = await store.OpenWriteAsync("run/step-00000001/shard"))
        {
            var failure = Assert.ThrowsAsync(Is.InstanceOf<CheckpointException>(), async () =>
            {
                await writer.WriteAsync(data);
                await writer.CompleteAsync();
            });
            Assert.That(failure!.Message, Does.Contain("finalized the upload"));
        }
        Assert.That(await store.GetLengthAsync("run/step-00000001/shard"), Is.Null);
    }
}
