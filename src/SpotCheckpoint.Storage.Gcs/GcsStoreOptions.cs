using Google.Apis.Auth.OAuth2;
using Google.Cloud.Storage.V1;

namespace SpotCheckpoint.Storage.Gcs;

/// <summary>
/// Options of a <see cref="GcsCheckpointStore"/>. Unset values follow the Google client library: Application Default
/// Credentials, and the <c>STORAGE_EMULATOR_HOST</c> environment variable for an emulator (no credentials then).
/// </summary>
public sealed class GcsStoreOptions
{
    /// <summary>One resumable-upload chunk's granularity: GCS requires every chunk but the last to be a multiple of it.</summary>
    public const int ChunkGranularity = 256 << 10;

    /// <summary>The bucket. Required.</summary>
    public string BucketName { get; set; } = "";

    /// <summary>Object name prefix inside the bucket (a "folder"). Default: the bucket root.</summary>
    public string Prefix { get; set; } = "";

    /// <summary>
    /// An emulator, such as <c>http://127.0.0.1:9199</c>; requests then carry no credentials. Default: the
    /// <c>STORAGE_EMULATOR_HOST</c> environment variable, else Google Cloud Storage itself.
    /// </summary>
    public string? EmulatorHost { get; set; }

    /// <summary>Explicit credentials. Default: Application Default Credentials. Never logged or written into a checkpoint.</summary>
    public GoogleCredential? Credential { get; set; }

    /// <summary>
    /// Bytes per resumable-upload request: a multiple of 256 KiB, 256 KiB to 1 GiB. Objects up to this size are sent
    /// in a single request; larger ones in chunks of this size, one after another (GCS accepts chunks of a session only
    /// in order), the next chunk filling while one is sent. Default 16 MiB.
    /// </summary>
    public int ChunkSize { get; set; } = 16 << 20;

    /// <summary>Ranges downloaded at once per read, 1 to 64. Default 4.</summary>
    public int Parallelism { get; set; } = 4;

    /// <summary>Bytes per ranged read, 256 KiB to 1 GiB. Default 8 MiB.</summary>
    public int DownloadPartSize { get; set; } = 8 << 20;

    /// <summary>
    /// Attempts per store call (one chunk, one ranged read, one commit), the first included, for throttling (429),
    /// 5xx, resets and timeouts, with exponential back-off and jitter. The store's own retry layer is the only one.
    /// Access denied and missing credentials fail at once. 1 to 30; default 8.
    /// </summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>The same setting as <see cref="MaxAttempts"/>, counted without the first attempt; kept for existing configuration.</summary>
    [System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
    public int MaxRetries { get => MaxAttempts - 1; set => MaxAttempts = value + 1; }

    /// <summary>
    /// A Cloud KMS key (CMEK) for every object: <c>projects/P/locations/L/keyRings/R/cryptoKeys/K</c>. Default: the
    /// bucket's default key, else Google-managed encryption.
    /// </summary>
    public string? KmsKeyName { get; set; }

    /// <summary>The storage class of every object: <c>STANDARD</c>, <c>NEARLINE</c>, <c>COLDLINE</c> or <c>ARCHIVE</c>. Default: the bucket's.</summary>
    public string? StorageClass { get; set; }

    /// <summary>Time limit of one HTTP attempt. Default 2 minutes.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Time limit of one store call (one chunk, one ranged read, one commit), retries included. Default 10 minutes.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>A last say over the client builder (after everything above is applied).</summary>
    public Action<StorageClientBuilder>? ConfigureClient { get; set; }

    /// <summary>Builds options from <c>gs://bucket/prefix</c>.</summary>
    public static GcsStoreOptions FromUri(Uri uri)
    {
        var location = ObjectLocation.FromUri(uri, "gs");
        return new GcsStoreOptions { BucketName = location.Bucket, Prefix = location.Prefix };
    }

    /// <summary>A copy pointing at another bucket and prefix (a location's URI overrides configured options).</summary>
    internal GcsStoreOptions At(string bucket, string prefix)
    {
        var copy = (GcsStoreOptions)MemberwiseClone();
        copy.BucketName = bucket;
        copy.Prefix = prefix;
        return copy;
    }

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(BucketName)) throw new ArgumentException("BucketName is required.", nameof(BucketName));
        ObjectLocation.NormalizePrefix(Prefix);
        if (ChunkSize < ChunkGranularity || ChunkSize > 1 << 30 || ChunkSize % ChunkGranularity != 0)
            throw new ArgumentOutOfRangeException(nameof(ChunkSize), ChunkSize, "ChunkSize must be a multiple of 256 KiB, from 256 KiB to 1 GiB.");
        if (Parallelism is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(Parallelism), Parallelism, "Parallelism must be 1 to 64.");
        if (DownloadPartSize is < 256 << 10 or > 1 << 30) throw new ArgumentOutOfRangeException(nameof(DownloadPartSize), DownloadPartSize, "DownloadPartSize must be 256 KiB to 1 GiB.");
        if (MaxAttempts is < 1 or > 30) throw new ArgumentOutOfRangeException(nameof(MaxAttempts), MaxAttempts, "MaxAttempts must be 1 to 30.");
        if (KmsKeyName is not null && !System.Text.RegularExpressions.Regex.IsMatch(KmsKeyName, "^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$"))
            throw new ArgumentException("KmsKeyName must be projects/P/locations/L/keyRings/R/cryptoKeys/K (no version).", nameof(KmsKeyName));
        if (StorageClass is not null && StorageClass is not ("STANDARD" or "NEARLINE" or "COLDLINE" or "ARCHIVE"))
            throw new ArgumentException($"StorageClass '{StorageClass}' is not STANDARD, NEARLINE, COLDLINE or ARCHIVE.", nameof(StorageClass));
        if (RequestTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RequestTimeout), RequestTimeout, "RequestTimeout must be positive.");
        if (OperationTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(OperationTimeout), OperationTimeout, "OperationTimeout must be positive.");
    }
}
