using Microsoft.Extensions.DependencyInjection;
using SpotCheckpoint.Storage.AzureBlob;
using SpotCheckpoint.Storage.Gcs;
using SpotCheckpoint.Storage.S3;

namespace SpotCheckpoint.Storage.Tests.Common;

/// <summary>URIs, options, environment variables and registration; no emulator needed, no network touched.</summary>
[NonParallelizable]
public sealed class ConfigurationTests
{
    private const string AzuriteConnection = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;";

    [Test]
    public void Bucket_and_prefix_come_from_the_uri()
    {
        var s3 = S3StoreOptions.FromUri(new Uri("s3://my-bucket/team/ckpt/"));
        Assert.That((s3.BucketName, s3.Prefix), Is.EqualTo(("my-bucket", "team/ckpt/")));
        var gcs = GcsStoreOptions.FromUri(new Uri("gs://b/p"));
        Assert.That((gcs.BucketName, gcs.Prefix), Is.EqualTo(("b", "p/")));
        var az = AzureBlobStoreOptions.FromUri(new Uri("az://container"));
        Assert.That((az.ContainerName, az.Prefix), Is.EqualTo(("container", "")));
        var https = AzureBlobStoreOptions.FromUri(new Uri("https://acct.blob.core.windows.net/c/runs/a"));
        Assert.That((https.ServiceUri!.ToString(), https.ContainerName, https.Prefix), Is.EqualTo(("https://acct.blob.core.windows.net/", "c", "runs/a/")));
    }

    [Test]
    public void Credentials_in_a_uri_are_refused()
    {
        Assert.Throws<ArgumentException>(() => S3StoreOptions.FromUri(new Uri("s3://AKIA:secret@bucket/x")));
        Assert.Throws<ArgumentException>(() => AzureBlobStoreOptions.FromUri(new Uri("https://acct.blob.core.windows.net/c/x?sv=1&sig=abc")));
        Assert.Throws<ArgumentException>(() => AzureBlobStoreOptions.FromUri(new Uri("https://example.com/c/x")));
    }

    [Test]
    public void Invalid_sizes_are_refused_with_the_option_named()
    {
        var gcs = new GcsStoreOptions { BucketName = "b", EmulatorHost = "http://127.0.0.1:1", ChunkSize = (256 << 10) + 1 };
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new GcsCheckpointStore(gcs))!.ParamName, Is.EqualTo("ChunkSize"));
        var s3 = new S3StoreOptions { BucketName = "b", ServiceUrl = "http://127.0.0.1:1", PartSize = 1 << 20 };
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new S3CheckpointStore(s3))!.ParamName, Is.EqualTo("PartSize"));
        Assert.Throws<ArgumentException>(() => new AzureBlobCheckpointStore(new AzureBlobStoreOptions { ConnectionString = AzuriteConnection }));
    }

    [Test]
    public void The_s3_endpoint_follows_the_aws_sdk_environment_variables()
    {
        var saved = (Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL"), Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_S3"));
        try
        {
            Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL", "http://127.0.0.1:2");
            Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_S3", null);
            Assert.That(S3ClientFactory.ConfiguredEndpoint(), Is.EqualTo("http://127.0.0.1:2"));
            Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:3");
            Assert.That(S3ClientFactory.ConfiguredEndpoint(), Is.EqualTo("http://127.0.0.1:3"), "the service-specific variable wins");
        }
        finally
        {
            Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL", saved.Item1);
            Environment.SetEnvironmentVariable("AWS_ENDPOINT_URL_S3", saved.Item2);
        }
    }

    [Test]
    public async Task Registered_schemes_open_the_right_store_and_descriptions_hold_no_secrets()
    {
        S3CheckpointStore.Register(o => { o.ServiceUrl = "http://127.0.0.1:1"; o.Credentials = new Amazon.Runtime.BasicAWSCredentials("id", "secret-value"); });
        GcsCheckpointStore.Register(o => o.EmulatorHost = "127.0.0.1:1");
        AzureBlobCheckpointStore.Register(o => o.ConnectionString = AzuriteConnection);
        await using var s3 = CheckpointStores.Open("s3://bucket/a/b");
        await using var gcs = CheckpointStores.Open("gs://bucket/a");
        await using var az = CheckpointStores.Open("az://container/a");
        Assert.That(s3, Is.InstanceOf<S3CheckpointStore>());
        Assert.That(gcs, Is.InstanceOf<GcsCheckpointStore>());
        Assert.That(az, Is.InstanceOf<AzureBlobCheckpointStore>());
        Assert.That(s3.Description, Is.EqualTo("s3://bucket/a/b/"));
        Assert.That(gcs.Description, Is.EqualTo("gs://bucket/a/"));
        Assert.That(az.Description, Is.EqualTo("http://127.0.0.1:1/devstoreaccount1/container/a/"));
        Assert.That(((GcsCheckpointStore)gcs).UploadBase, Is.EqualTo("http://127.0.0.1:1/upload/storage/v1/"));
        foreach (var store in new[] { s3, gcs, az })
            Assert.That(store.Description, Does.Not.Contain("secret").And.Not.Contain("AccountKey").And.Not.Contain("Eby8"));
        Assert.Throws<ArgumentException>(() => CheckpointStores.Open("https://example.com/x"));
        Assert.That(CheckpointStores.Open("relative/path"), Is.InstanceOf<LocalFileStore>());
    }

    [Test]
    public void The_https_form_uses_a_connection_string_for_the_same_account_and_the_identity_chain_otherwise()
    {
        var saved = (Environment.GetEnvironmentVariable("AZURE_STORAGE_CONNECTION_STRING"), AzureBlobClientFactory.DefaultCredential);
        int chains = 0;
        try
        {
            Environment.SetEnvironmentVariable("AZURE_STORAGE_CONNECTION_STRING", AzuriteConnection);
            AzureBlobClientFactory.DefaultCredential = () => { chains++; return new Azure.Identity.ClientSecretCredential("t", "c", "s"); }; // never asked for a token here
            var store = new AzureBlobCheckpointStore(AzureBlobStoreOptions.FromUri(new Uri("https://devstoreaccount1.blob.core.windows.net/c/p")));
            Assert.That(store.Description, Does.StartWith("http://127.0.0.1:1/devstoreaccount1/c/p/"));
            Assert.That(chains, Is.Zero, "the matching connection string wins");
            var other = new AzureBlobCheckpointStore(AzureBlobStoreOptions.FromUri(new Uri("https://someoneelse.blob.core.windows.net/c/p")));
            Assert.That(other.Description, Is.EqualTo("https://someoneelse.blob.core.windows.net/c/p/"));
            Assert.That(chains, Is.EqualTo(1), "another account: the Azure.Identity chain");
        }
        finally
        {
            Environment.SetEnvironmentVariable("AZURE_STORAGE_CONNECTION_STRING", saved.Item1);
            AzureBlobClientFactory.DefaultCredential = saved.DefaultCredential;
        }
    }

    [Test]
    public async Task Dependency_injection_registers_one_store()
    {
        var services = new ServiceCollection();
        services.AddGcsCheckpointStore(o => { o.BucketName = "b"; o.EmulatorHost = "http://127.0.0.1:1"; });
        await using var provider = services.BuildServiceProvider();
        Assert.That(provider.GetRequiredService<ICheckpointStore>(), Is.InstanceOf<GcsCheckpointStore>());
        Assert.Throws<ArgumentException>(() => new ServiceCollection().AddS3CheckpointStore(o => o.BucketName = ""));
    }
}
