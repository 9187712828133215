using Amazon.Runtime;
using Amazon.S3;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using SpotCheckpoint.Storage.AzureBlob;
using SpotCheckpoint.Storage.Gcs;
using SpotCheckpoint.Storage.S3;

namespace SpotCheckpoint.Hosting.Tests;

/// <summary>
/// UseS3Store / UseGcsStore / UseAzureBlobStore: s3://, gs:// and az:// locations open with options, SDK clients
/// and loggers from the container; bad store options stop the host at start-up naming the key. No network.
/// </summary>
public sealed class StoreBuilderExtensionTests
{
    private const string AzuriteConnection = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;";

    private static HostApplicationBuilder Builder(string location, Dictionary<string, string?>? extra = null)
    {
        var settings = TestHosts.Settings(location);
        foreach (var (k, v) in extra ?? new()) settings[k] = v;
        return TestHosts.Builder(settings);
    }

    [Test]
    public async Task An_s3_location_opens_with_the_named_options_and_the_containers_sdk_client()
    {
        var builder = Builder("s3://bucket/runs/a", new() { ["Stores:S3:PartSize"] = (32 << 20).ToString(), ["Stores:S3:StorageClass"] = "INTELLIGENT_TIERING" });
        using var client = new AmazonS3Client(new BasicAWSCredentials("id", "secret"), new AmazonS3Config { ServiceURL = "http://127.0.0.1:1", AuthenticationRegion = "us-east-1" });
        builder.Services.AddSingleton<IAmazonS3>(client);
        builder.Services.AddSpotCheckpoint(builder.Configuration).UseS3Store(builder.Configuration.GetSection("Stores:S3"), o => o.KmsKeyId = "alias/ckpt");
        using var host = builder.Build();
        var store = host.Services.GetRequiredService<Checkpointer>().Store;
        Assert.That(store, Is.InstanceOf<S3CheckpointStore>());
        var s3 = (S3CheckpointStore)store;
        Assert.That(s3.Description, Is.EqualTo("s3://bucket/runs/a/"));
        Assert.That((s3.Options.PartSize, s3.Options.StorageClass, s3.Options.KmsKeyId), Is.EqualTo((32 << 20, "INTELLIGENT_TIERING", "alias/ckpt")));
        Assert.That(s3.Client, Is.SameAs(client), "the SDK client registered in the container");
        await Task.CompletedTask;
    }

    [Test]
    public void Bad_store_options_stop_the_host_at_start_up_naming_the_key()
    {
        var builder = Builder("gs://bucket/runs", new() { ["Stores:Gcs:ChunkSize"] = "1000", ["Stores:Gcs:EmulatorHost"] = "127.0.0.1:1" });
        builder.Services.AddSpotCheckpoint(builder.Configuration).UseGcsStore(builder.Configuration.GetSection("Stores:Gcs"));
        using var host = builder.Build();
        var ex = Assert.CatchAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.That(ex!.Message, Does.Contain("Stores:Gcs:ChunkSize"));
    }

    [Test]
    public void A_gs_location_opens_the_gcs_store()
    {
        var builder = Builder("gs://bucket/runs");
        builder.Services.AddSpotCheckpoint(builder.Configuration).UseGcsStore(o => o.EmulatorHost = "127.0.0.1:1");
        using var host = builder.Build();
        var store = host.Services.GetRequiredService<Checkpointer>().Store;
        Assert.That(store, Is.InstanceOf<GcsCheckpointStore>());
        Assert.That(store.Description, Is.EqualTo("gs://bucket/runs/"));
    }

    [Test]
    public void An_az_location_opens_the_azure_store_and_named_options_stay_apart()
    {
        var builder = Builder("az://container/runs");
        builder.Services.AddSpotCheckpoint(builder.Configuration)
            .UseAzureBlobStore("other", configuration: null, o => o.BlockSize = 0) // a different name: never validated for this store
            .UseAzureBlobStore(o => { o.ConnectionString = AzuriteConnection; o.AccessTier = "Cool"; });
        using var host = builder.Build();
        var store = host.Services.GetRequiredService<Checkpointer>().Store;
        Assert.That(store, Is.InstanceOf<AzureBlobCheckpointStore>());
        Assert.That(store.Description, Is.EqualTo("http://127.0.0.1:1/devstoreaccount1/container/runs/"));
        Assert.That(((AzureBlobCheckpointStore)store).Options.AccessTier, Is.EqualTo("Cool"));
    }

    [Test]
    public void Without_a_provider_a_cloud_location_fails_at_start_naming_the_key()
    {
        var builder = Builder("gs://bucket/runs");
        builder.Services.AddSpotCheckpoint(builder.Configuration);
        using var host = builder.Build();
        var ex = Assert.CatchAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.That(ex!.Message, Does.Contain("SpotCheckpoint:Location"));
    }
}
