using SpotCheckpoint.Testing;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using SpotCheckpoint.Storage.AzureBlob;
using SpotCheckpoint.Storage.Tests.Emulators;

namespace SpotCheckpoint.Storage.Tests.AzureBlob;

/// <summary>Retention's clean-up discards blocks that a crashed writer staged but never committed.</summary>
public sealed class AzureIncompleteUploadTests
{
    [Test]
    public async Task Stale_uncommitted_blocks_are_discarded_and_committed_blobs_kept()
    {
        var e = EmulatorEndpoints.Require();
        var prefix = TestStores.UniquePrefix("blocks");
        var options = TestStores.AzureOptions(e, prefix);
        await using var store = new AzureBlobCheckpointStore(options);
        var container = new BlobContainerClient(e.AzureConnectionString, e.AzureContainer);
        var crashed = container.GetBlockBlobClient($"{prefix}/run/step-00000001/shard-00000.x.safetensors");
        await crashed.StageBlockAsync(Convert.ToBase64String("block-1"u8.ToArray()), new MemoryStream(new byte[1024]));
        await using (var writer = await store.OpenWriteAsync("run/step-00000001/kept")) { await writer.WriteAsync(new byte[10]); await writer.CompleteAsync(); }

        Assert.That(await store.CleanupIncompleteAsync("run/", TimeSpan.FromHours(1)), Is.Zero, "too young");
        Assert.That(await store.CleanupIncompleteAsync("run/", TimeSpan.Zero), Is.EqualTo(1));
        var names = new List<string>();
        await foreach (var item in container.GetBlobsAsync(new GetBlobsOptions { Prefix = prefix + "/", States = BlobStates.Uncommitted })) names.Add(item.Name);
        Assert.That(names, Is.EqualTo(new[] { $"{prefix}/run/step-00000001/kept" }));
    }
}
