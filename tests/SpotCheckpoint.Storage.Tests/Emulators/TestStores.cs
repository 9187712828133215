using SpotCheckpoint.Testing;
using Amazon.Runtime;
using Azure.Storage.Blobs;
using SpotCheckpoint.Storage.AzureBlob;
using SpotCheckpoint.Storage.Gcs;
using SpotCheckpoint.Storage.S3;

namespace SpotCheckpoint.Storage.Tests.Emulators;

/// <summary>The three object stores the tests run against.</summary>
public enum Provider
{
    /// <summary>S3 on @20minutes/s3rver.</summary>
    S3,

    /// <summary>GCS on the Firebase Storage emulator.</summary>
    Gcs,

    /// <summary>Azure Blob on Azurite.</summary>
    AzureBlob,
}

/// <summary>
/// Builds stores against the emulators. Every credential and endpoint is explicit, so no SDK looks for instance
/// metadata or a cloud endpoint. Emulator quirks are worked around here, and only here:
/// <list type="bullet">
/// <item>s3rver cannot parse the AWS SDK's streamed (aws-chunked) trailing checksums, so the SDK computes checksums
/// only where an operation requires them (WHEN_REQUIRED). The store's own Content-MD5 per part still applies.
/// s3rver also ignores <c>If-None-Match: *</c>; the conditional-commit tests answer 412 through the proxy.</item>
/// <item>The Firebase Storage emulator keeps only the first chunk of a chunked resumable upload and takes at most
/// 130 MiB per request, so the GCS chunk size is 128 MiB (one chunk per object) and tests keep objects below it
/// (checkpoints use 64 MiB shards). Production keeps 16 MiB chunks. It also ignores <c>ifGenerationMatch=0</c>.</item>
/// <item>Azurite needs <c>--skipApiVersionCheck</c> for this SDK version; start.sh passes it, nothing is needed here.</item>
/// </list>
/// </summary>
internal static class TestStores
{
    public const int GcsEmulatorChunkSize = 128 << 20;
    public const long ShardBytes = 64L << 20;

    /// <summary>s3rver accepts only its own well-known access key (any signature, given --allow-mismatched-signatures).</summary>
    public const string S3rverKey = "S3RVER";
    private static int _containerCreated;

    public static ICheckpointStore Create(Provider provider, string prefix, string? endpoint = null, Action<object>? configure = null)
    {
        var e = EmulatorEndpoints.Require();
        switch (provider)
        {
            case Provider.S3:
            {
                var options = S3Options(e, prefix, endpoint);
                configure?.Invoke(options);
                return new S3CheckpointStore(options);
            }
            case Provider.Gcs:
            {
                var options = GcsOptions(e, prefix, endpoint);
                configure?.Invoke(options);
                return new GcsCheckpointStore(options);
            }
            default:
            {
                var options = AzureOptions(e, prefix, endpoint);
                configure?.Invoke(options);
                return new AzureBlobCheckpointStore(options);
            }
        }
    }

    public static S3StoreOptions S3Options(EmulatorEndpoints e, string prefix, string? endpoint = null) => new()
    {
        BucketName = e.S3Bucket,
        Prefix = prefix,
        ServiceUrl = endpoint ?? e.S3Endpoint,
        Region = "us-east-1",
        Credentials = new BasicAWSCredentials(S3rverKey, S3rverKey),
        PartSize = 5 << 20,
        RequestTimeout = TimeSpan.FromSeconds(30),
        OperationTimeout = TimeSpan.FromSeconds(90),
        MaxRetries = 6,
        ConfigureClient = config =>
        {
            config.RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED;
            config.ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED;
        },
    };

    public static GcsStoreOptions GcsOptions(EmulatorEndpoints e, string prefix, string? endpoint = null) => new()
    {
        BucketName = e.GcsBucket,
        Prefix = prefix,
        EmulatorHost = endpoint ?? e.GcsEndpoint,
        ChunkSize = GcsEmulatorChunkSize,
        RequestTimeout = TimeSpan.FromSeconds(30),
        OperationTimeout = TimeSpan.FromSeconds(90),
        MaxRetries = 6,
    };

    public static AzureBlobStoreOptions AzureOptions(EmulatorEndpoints e, string prefix, string? endpoint = null)
    {
        EnsureContainer(e);
        var connection = e.AzureConnectionString;
        if (endpoint is not null)
        {
            var original = connection.Split(';').Single(p => p.StartsWith("BlobEndpoint=", StringComparison.Ordinal));
            var account = new Uri(original["BlobEndpoint=".Length..]).AbsolutePath;
            connection = connection.Replace(original, "BlobEndpoint=" + endpoint.TrimEnd('/') + account, StringComparison.Ordinal);
        }
        return new AzureBlobStoreOptions
        {
            ContainerName = e.AzureContainer,
            Prefix = prefix,
            ConnectionString = connection,
            BlockSize = 2 << 20,
            RequestTimeout = TimeSpan.FromSeconds(30),
            OperationTimeout = TimeSpan.FromSeconds(90),
            MaxRetries = 6,
        };
    }

    /// <summary>The upstream endpoint a proxy for <paramref name="provider"/> forwards to.</summary>
    public static Uri Upstream(Provider provider)
    {
        var e = EmulatorEndpoints.Require();
        return provider switch
        {
            Provider.S3 => new Uri(e.S3Endpoint),
            Provider.Gcs => new Uri(e.GcsEndpoint),
            _ => new Uri(new Uri(e.AzureConnectionString.Split(';').Single(p => p.StartsWith("BlobEndpoint=", StringComparison.Ordinal))["BlobEndpoint=".Length..]).GetLeftPart(UriPartial.Authority)),
        };
    }

    /// <summary>A fresh prefix per test, so that tests never see each other's objects.</summary>
    public static string UniquePrefix(string name) => $"t-{name}-{Guid.NewGuid():N}";

    private static void EnsureContainer(EmulatorEndpoints e)
    {
        if (Interlocked.Exchange(ref _containerCreated, 1) == 1) return;
        new BlobContainerClient(e.AzureConnectionString, e.AzureContainer).CreateIfNotExists();
    }
}
