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

/// <summary>How objects are encrypted at rest. The bucket's default applies when nothing is asked for.</summary>
public enum S3Encryption
{
    /// <summary>Ask for nothing: the bucket's default encryption applies (SSE-S3 unless the bucket says otherwise).</summary>
    BucketDefault,

    /// <summary>SSE-S3 (<c>AES256</c>), keys managed by S3.</summary>
    S3Managed,

    /// <summary>SSE-KMS (<c>aws:kms</c>) with <see cref="S3StoreOptions.KmsKeyId"/> or the account's AWS managed key.</summary>
    Kms,

    /// <summary>DSSE-KMS (<c>aws:kms:dsse</c>), dual-layer encryption with a KMS key.</summary>
    DualLayerKms,
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

    /// <summary>
    /// Attempts per store call (one part, one ranged read, one commit), the first included, for throttling (SlowDown,
    /// 429), 5xx, resets and timeouts, with exponential back-off and jitter. The store's own retry layer is the only
    /// one: the SDK's retries are off. Access denied and missing credentials fail at once. 1 to 30; default 8.
    /// </summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>The same setting as <see cref="MaxAttempts"/>, counted without the first attempt; kept for existing configuration.</summary>
    [System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
    public int MaxRetries { get => MaxAttempts - 1; set => MaxAttempts = value + 1; }

    /// <summary>Encryption at rest asked for on every object. Default <see cref="S3Encryption.BucketDefault"/> (<see cref="S3Encryption.Kms"/> when <see cref="KmsKeyId"/> is set).</summary>
    public S3Encryption Encryption { get; set; } = S3Encryption.BucketDefault;

    /// <summary>The KMS key (id, ARN or alias) for <see cref="S3Encryption.Kms"/> and <see cref="S3Encryption.DualLayerKms"/>. Default: the account's AWS managed key.</summary>
    public string? KmsKeyId { get; set; }

    /// <summary>Use an S3 Bucket Key with SSE-KMS (fewer KMS requests). Default: the bucket's setting.</summary>
    public bool? BucketKeyEnabled { get; set; }

    /// <summary>The storage class of every object, such as <c>STANDARD</c>, <c>INTELLIGENT_TIERING</c> or <c>STANDARD_IA</c>. Default: the bucket's (STANDARD).</summary>
    public string? StorageClass { get; set; }

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

    /// <summary>The encryption in force: Kms when only a key id was given.</summary>
    internal S3Encryption EffectiveEncryption => Encryption == S3Encryption.BucketDefault && KmsKeyId is not null ? S3Encryption.Kms : Encryption;

    /// <summary>A copy pointing at another bucket and prefix (a location's URI overrides configured options).</summary>
    internal S3StoreOptions At(string bucket, string prefix)
    {
        var copy = (S3StoreOptions)MemberwiseClone();
        copy.BucketName = bucket;
        copy.Prefix = prefix;
        return copy;
    }

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(BucketName)) throw new ArgumentException("BucketName is required.", nameof(BucketName));
        ObjectLocation.NormalizePrefix(Prefix);
        if (PartSize is < 5 << 20 or > 1 << 30) throw new ArgumentOutOfRangeException(nameof(PartSize), PartSize, "PartSize must be 5 MiB to 1 GiB (S3's smallest part is 5 MiB).");
        if (Parallelism is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(Parallelism), Parallelism, "Parallelism must be 1 to 64.");
        if (DownloadPartSize is < 256 << 10 or > 1 << 30) throw new ArgumentOutOfRangeException(nameof(DownloadPartSize), DownloadPartSize, "DownloadPartSize must be 256 KiB to 1 GiB.");
        if (MaxAttempts is < 1 or > 30) throw new ArgumentOutOfRangeException(nameof(MaxAttempts), MaxAttempts, "MaxAttempts must be 1 to 30.");
        if (KmsKeyId is not null && string.IsNullOrWhiteSpace(KmsKeyId)) throw new ArgumentException("KmsKeyId is empty; leave it unset for the AWS managed key.", nameof(KmsKeyId));
        if (KmsKeyId is not null && Encryption is S3Encryption.S3Managed)
            throw new ArgumentException("KmsKeyId needs Encryption Kms or DualLayerKms, not S3Managed.", nameof(KmsKeyId));
        if (BucketKeyEnabled is not null && EffectiveEncryption is not S3Encryption.Kms)
            throw new ArgumentException("BucketKeyEnabled applies only to Encryption Kms.", nameof(BucketKeyEnabled));
        if (StorageClass is not null && (StorageClass.Length == 0 || !StorageClass.All(c => char.IsAsciiLetterUpper(c) || c == '_')))
            throw new ArgumentException($"StorageClass '{StorageClass}' is not an S3 storage class such as STANDARD or INTELLIGENT_TIERING.", nameof(StorageClass));
        if (StorageClass is "GLACIER" or "DEEP_ARCHIVE")
            throw new ArgumentException($"StorageClass {StorageClass} needs a restore before every read; a resume must read at once (use GLACIER_IR or a lifecycle rule).", nameof(StorageClass));
        if (RequestTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RequestTimeout), RequestTimeout, "RequestTimeout must be positive.");
        if (OperationTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(OperationTimeout), OperationTimeout, "OperationTimeout must be positive.");
    }
}
