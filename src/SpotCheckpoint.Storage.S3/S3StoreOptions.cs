using Amazon.Runtime;
using Amazon.S3;

namespace SpotCheckpoint.Storage.S3;

/// <summary>How the S3 store computes the checksum it sends with every part and object.</summary>
public enum S3ChecksumMode
{
    /// <summary>
    /// Content-MD5 on every part and object: S3 (and S3-compatible stores) refuse a body that does not match, and the
    /// final ETag is checked against the part digests where the store reports MD5-based ETags. The default.
    /// </summary>
    ContentMd5,

    /// <summary>Only the checksums the AWS SDK adds by itself (see <c>AmazonS3Config.RequestChecksumCalculation</c>).</summary>
    SdkDefault,
}

/// <summary>
/// Options of an <see cref="S3CheckpointStore"/>. Anything left unset follows the AWS SDK's own configuration:
/// <c>AWS_ENDPOINT_URL_S3</c> / <c>AWS_ENDPOINT_URL</c> for the endpoint, <c>AWS_REGION</c> for the region, and the
/// SDK's default credential chain (environment, profile, web identity, container and instance roles).
/// </summary>
public sealed class S3StoreOptions
{
    /// <summary>The bucket. Required.</summary>
    public string BucketName { get; set; } = "";

    /// <summary>Key prefix inside the bucket (a "folder"), such as <c>team/checkpoints</c>. Default: the bucket root.</summary>
    public string Prefix { get; set; } = "";

    /// <summary>
    /// The endpoint of an S3-compatible service, such as <c>http://127.0.0.1:9000</c>. Default: the
    /// <c>AWS_ENDPOINT_URL_S3</c> or <c>AWS_ENDPOINT_URL</c> environment variable (unless
    /// <c>AWS_IGNORE_CONFIGURED_ENDPOINT_URLS</c> is true), else AWS itself.
    /// </summary>
    public string? ServiceUrl { get; set; }

    /// <summary>The region (for example <c>eu-west-1</c>). Default: the SDK's region chain; <c>us-east-1</c> for a custom endpoint when none is configured.</summary>
    public string? Region { get; set; }

    /// <summary>Addresses objects as <c>endpoint/bucket/key</c>. Default: true for a custom endpoint, false for AWS.</summary>
    public bool? ForcePathStyle { get; set; }

    /// <summary>Explicit credentials. Default: the SDK's credential chain. Never logged or written into a checkpoint.</summary>
    public AWSCredentials? Credentials { get; set; }

    /// <summary>Bytes per multipart part, 5 MiB to 1 GiB. Objects up to this size are sent in one request. Default 16 MiB.</summary>
    public int PartSize { get; set; } = 16 << 20;

    /// <summary>Parts uploaded (and ranges downloaded) at once per object, 1 to 64. Default 4.</summary>
    public int Parallelism { get; set; } = 4;

    /// <summary>Bytes per ranged GET when reading, 256 KiB to 1 GiB. Default 8 MiB.</summary>
    public int DownloadPartSize { get; set; } = 8 << 20;

    /// <summary>The checksum sent with every part and object. Default <see cref="S3ChecksumMode.ContentMd5"/>.</summary>
    public S3ChecksumMode ChecksumMode { get; set; } = S3ChecksumMode.ContentMd5;

    /// <summary>
    /// Send <c>If-None-Match: *</c> on the manifest so that only one writer can commit a step. Default true. Stores
    /// that ignore the header overwrite instead; the read-back after the write still detects a writer that lost.
    /// </summary>
    public bool ConditionalCommit { get; set; } = true;

    /// <summary>Retries of one request by the SDK (standard retry mode: throttling such as SlowDown, 5xx, resets, timeouts). Default 8.</summary>
    public int MaxRetries { get; set; } = 8;

    /// <summary>Time limit of one HTTP attempt. Default 2 minutes.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Time limit of one store call (one part, one ranged read, one commit), retries included. Default 10 minutes.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>A last say over the SDK configuration (after everything above is applied).</summary>
    public Action<AmazonS3Config>? ConfigureClient { get; set; }

    /// <summary>Builds options from <c>s3://bucket/prefix</c>.</summary>
    public static S3StoreOptions FromUri(Uri uri)
    {
        var location = ObjectLocation.FromUri(uri, "s3");
        return new S3StoreOptions { BucketName = location.Bucket, Prefix = location.Prefix };
    }

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(BucketName)) throw new ArgumentException("BucketName is required.", nameof(BucketName));
        ObjectLocation.NormalizePrefix(Prefix);
        if (PartSize is < 5 << 20 or > 1 << 30) throw new ArgumentOutOfRangeException(nameof(PartSize), PartSize, "PartSize must be 5 MiB to 1 GiB (S3's smallest part is 5 MiB).");
        if (Parallelism is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(Parallelism), Parallelism, "Parallelism must be 1 to 64.");
        if (DownloadPartSize is < 256 << 10 or > 1 << 30) throw new ArgumentOutOfRangeException(nameof(DownloadPartSize), DownloadPartSize, "DownloadPartSize must be 256 KiB to 1 GiB.");
        if (MaxRetries is < 0 or > 30) throw new ArgumentOutOfRangeException(nameof(MaxRetries), MaxRetries, "MaxRetries must be 0 to 30.");
        if (RequestTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RequestTimeout), RequestTimeout, "RequestTimeout must be positive.");
        if (OperationTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(OperationTimeout), OperationTimeout, "OperationTimeout must be positive.");
    }
}
