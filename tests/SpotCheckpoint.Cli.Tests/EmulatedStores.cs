using SpotCheckpoint.Testing;
using Amazon.Runtime;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Storage.AzureBlob;
using SpotCheckpoint.Storage.Gcs;
using SpotCheckpoint.Storage.S3;

namespace SpotCheckpoint.Cli.Tests;

/// <summary>
/// The object stores the CLI tests run against, on the emulators tests/emulators/start.sh starts on 127.0.0.1. The
/// CLI runs in process and opens <c>s3://</c>, <c>gs://</c> and <c>az://</c> through
/// <see cref="CheckpointStores.Open"/>; after the CLI's own registration, the providers are registered again here
/// with every endpoint and credential explicit, so no SDK reads the environment, instance metadata or a cloud
/// endpoint. Emulator quirks (as in the storage tests' configuration):
/// <list type="bullet">
/// <item>s3rver takes only its access key <c>S3RVER</c>, and cannot parse the AWS SDK's streamed trailing checksums,
/// so the SDK computes checksums only where required (the store's Content-MD5 per part still applies). It does not
/// implement ListMultipartUploads, so incomplete uploads are neither listed nor cleaned up there.</item>
/// <item>The Firebase Storage emulator keeps only the first chunk of a chunked resumable upload, so the GCS chunk
/// size is 128 MiB (one chunk per object; the test checkpoints are far smaller).</item>
/// <item>Azurite needs <c>--skipApiVersionCheck</c> (start.sh passes it) and the container created up front.</item>
/// </list>
/// </summary>
internal static class EmulatedStores
{
    public static readonly string[] Kinds = ["s3", "gs", "az"];

    private const string S3rverKey = "S3RVER";
    private const int GcsEmulatorChunkSize = 128 << 20;
    private static readonly object Gate = new();
    private static EmulatorEndpoints? _registered;

    public static StoreUnderTest Create(string kind)
    {
        var e = Register();
        var prefix = $"cli-{Guid.NewGuid():N}";
        return kind switch
        {
            "s3" => new ObjectStoreUnderTest($"s3://{e.S3Bucket}/{prefix}", tracksIncompleteUploads: false),
            "gs" => new ObjectStoreUnderTest($"gs://{e.GcsBucket}/{prefix}", tracksIncompleteUploads: false),
            _ => new AzureStoreUnderTest(e, prefix),
        };
    }

    /// <summary>Registers the providers against the emulators once per process (the test stops when they are missing).</summary>
    private static EmulatorEndpoints Register()
    {
        var e = EmulatorEndpoints.Require();
        lock (Gate)
        {
            if (_registered is not null) return _registered;
            // First the CLI's registration (once per process; a later call from a verb changes nothing), then ours over it.
            StoreRegistration.RegisterProviders();
            S3CheckpointStore.Register(o =>
            {
                o.ServiceUrl = e.S3Endpoint;
                o.Region = "us-east-1";
                o.Credentials = new BasicAWSCredentials(S3rverKey, S3rverKey);
                o.PartSize = 5 << 20;
                o.RequestTimeout = TimeSpan.FromSeconds(30);
                o.OperationTimeout = TimeSpan.FromSeconds(90);
                o.MaxRetries = 6;
                o.ConfigureClient = config =>
                {
                    config.RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED;
                    config.ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED;
                };
            });
            GcsCheckpointStore.Register(o =>
            {
                o.EmulatorHost = e.GcsEndpoint;
                o.ChunkSize = GcsEmulatorChunkSize;
                o.RequestTimeout = TimeSpan.FromSeconds(30);
                o.OperationTimeout = TimeSpan.FromSeconds(90);
                o.MaxRetries = 6;
            });
            AzureBlobCheckpointStore.Register(o =>
            {
                o.ConnectionString = e.AzureConnectionString;
                o.BlockSize = 2 << 20;
                o.RequestTimeout = TimeSpan.FromSeconds(30);
                o.OperationTimeout = TimeSpan.FromSeconds(90);
                o.MaxRetries = 6;
            });
            new BlobContainerClient(e.AzureConnectionString, e.AzureContainer).CreateIfNotExists();
            return _registered = e;
        }
    }

    private class ObjectStoreUnderTest(string root, bool tracksIncompleteUploads) : StoreUnderTest
    {
        public override string Root => root;

        public override bool TracksIncompleteUploads => tracksIncompleteUploads;

        public override int CountIncompleteUploads() => 0;

        /// <summary>Removes every object under the test's prefix (best effort: the emulators' data goes with stop.sh).</summary>
        public override void Dispose()
        {
            try
            {
                Task.Run(async () =>
                {
                    await using var store = Open();
                    var keys = new List<string>();
                    await foreach (var obj in store.ListAsync("")) keys.Add(obj.Key);
                    foreach (var key in keys) await store.DeleteAsync(key);
                }).GetAwaiter().GetResult();
            }
            catch (CheckpointStoreException) { }
        }
    }

    /// <summary>Azure Blob: an incomplete upload is a blob with uncommitted blocks only, which prune removes.</summary>
    private sealed class AzureStoreUnderTest(EmulatorEndpoints e, string prefix) : ObjectStoreUnderTest($"az://{e.AzureContainer}/{prefix}", tracksIncompleteUploads: true)
    {
        private readonly BlobContainerClient _container = new(e.AzureConnectionString, e.AzureContainer);

        public override int CountIncompleteUploads()
        {
            var committed = _container.GetBlobs(new GetBlobsOptions { Prefix = prefix + "/" }).Select(b => b.Name).ToHashSet(StringComparer.Ordinal);
            return _container.GetBlobs(new GetBlobsOptions { Prefix = prefix + "/", States = BlobStates.Uncommitted }).Count(b => !committed.Contains(b.Name));
        }

        /// <summary>Stages a block that is never committed, as a writer that crashed after its first block would.</summary>
        public override async Task<IAsyncDisposable> StartIncompleteUploadAsync(string key)
        {
            var blob = _container.GetBlockBlobClient(prefix + "/" + key);
            await blob.StageBlockAsync(Convert.ToBase64String("block-00000"u8.ToArray()), new MemoryStream(new byte[64]));
            return NoWriter.Instance;
        }

        private sealed class NoWriter : IAsyncDisposable
        {
            public static readonly NoWriter Instance = new();
            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
