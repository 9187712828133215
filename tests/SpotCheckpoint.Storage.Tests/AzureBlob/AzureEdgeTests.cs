using SpotCheckpoint.Testing;
using Azure.Storage;
using SpotCheckpoint.Storage.AzureBlob;
using SpotCheckpoint.Storage.Tests.Emulators;
using SpotCheckpoint.Storage.Tests.Proxy;

namespace SpotCheckpoint.Storage.Tests.AzureBlob;

/// <summary>Azure edges: aborts leave nothing under the final key; a ServiceUri keeps its path.</summary>
public sealed class AzureEdgeTests
{
    [Test]
    public async Task An_aborted_upload_never_puts_a_blob_under_its_key_even_when_the_clean_up_is_cut_short()
    {
        var e = EmulatorEndpoints.Require();
        var prefix = TestStores.UniquePrefix("az-abort");
        await using var proxy = await FaultProxy.StartAsync(TestStores.Upstream(Provider.AzureBlob));
        await using var store = TestStores.Create(Provider.AzureBlob, prefix, proxy.Address.ToString().TrimEnd('/'));
        // Every delete is lost, as if the process died right after an abort's first call.
        proxy.Plan.Force(Fault.ResetBeforeStore, (method, _) => method == "DELETE", times: 100);
        await using (var writer = await store.OpenWriteAsync("run/shard"))
        {
            await writer.WriteAsync(new byte[5 << 20]); // two staged blocks, then abandoned
        }
        await using var direct = TestStores.Create(Provider.AzureBlob, prefix);
        Assert.That(await direct.GetLengthAsync("run/shard"), Is.Null, "no blob, not even an empty one, under the final key");
        var listed = new List<StoredObject>();
        await foreach (var o in direct.ListAsync("run/")) listed.Add(o);
        Assert.That(listed, Is.Empty);
    }

    [Test]
    public async Task A_service_uri_with_a_path_keeps_the_path()
    {
        var e = EmulatorEndpoints.Require();
        TestStores.AzureOptions(e, "x"); // creates the container
        var settings = e.AzureConnectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var options = new AzureBlobStoreOptions
        {
            ContainerName = e.AzureContainer,
            Prefix = TestStores.UniquePrefix("az-path"),
            ServiceUri = new Uri(settings["BlobEndpoint"]), // http://127.0.0.1:port/devstoreaccount1
            SharedKeyCredential = new StorageSharedKeyCredential(settings["AccountName"], settings["AccountKey"]),
            MaxRetries = 1,
        };
        await using var store = new AzureBlobCheckpointStore(options);
        Assert.That(store.Description, Does.Contain("/devstoreaccount1/" + e.AzureContainer + "/"));
        await store.CreateExclusiveAsync("run/manifest.json", "{}"u8.ToArray());
        Assert.That(await store.GetLengthAsync("run/manifest.json"), Is.EqualTo(2));
    }
}
