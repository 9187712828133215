using Azure;
using Azure.Core;
using Azure.Storage;
using Azure.Storage.Blobs;

namespace SpotCheckpoint.Storage.AzureBlob;

/// <summary>
/// Options of an <see cref="AzureBlobCheckpointStore"/>. The account and its credentials come from, in order:
/// <see cref="ConnectionString"/>; <see cref="ServiceUri"/> with <see cref="Credential"/>,
/// <see cref="SharedKeyCredential"/> or <see cref="SasCredential"/>; the <c>AZURE_STORAGE_CONNECTION_STRING</c>
/// environment variable; for an <c>https://</c> <see cref="ServiceUri"/> with none of those, the Azure.Identity
/// credential chain (<c>DefaultAzureCredential</c>: workload identity, managed identity on a VM, Azure CLI, …).
/// </summary>
public sealed class AzureBlobStoreOptions
{
    /// <summary>The container. Required. The store does not create it.</summary>
    public string ContainerName { get; set; } = "";

    /// <summary>Blob name prefix inside the container (a "folder"). Default: the container root.</summary>
    public string Prefix { get; set; } = "";

    /// <summary>A storage connection string. Default: the <c>AZURE_STORAGE_CONNECTION_STRING</c> environment variable.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// The blob service endpoint, such as <c>https://account.blob.core.windows.net</c> or, for an emulator,
    /// <c>http://127.0.0.1:10000/devstoreaccount1</c> (a path is kept), used with one of the credentials below.
    /// </summary>
    public Uri? ServiceUri { get; set; }

    /// <summary>An Entra ID credential, for example <c>DefaultAzureCredential</c> from Azure.Identity (the SDK's default chain).</summary>
    public TokenCredential? Credential { get; set; }

    /// <summary>An account name and key.</summary>
    public StorageSharedKeyCredential? SharedKeyCredential { get; set; }

    /// <summary>A shared access signature.</summary>
    public AzureSasCredential? SasCredential { get; set; }

    /// <summary>Bytes per staged block, 1 MiB to 1 GiB. Objects up to this size are sent in one request. Default 8 MiB.</summary>
    public int BlockSize { get; set; } = 8 << 20;

    /// <summary>Blocks staged (and ranges downloaded) at once per object, 1 to 64. Default 8.</summary>
    public int Parallelism { get; set; } = 8;

    /// <summary>Bytes per ranged read, 256 KiB to 1 GiB. Default 8 MiB.</summary>
    public int DownloadPartSize { get; set; } = 8 << 20;

    /// <summary>
    /// The transactional checksum sent with every block and single-shot upload, which the service verifies.
    /// Default <see cref="StorageChecksumAlgorithm.MD5"/>; <see cref="StorageChecksumAlgorithm.StorageCrc64"/> is cheaper on the CPU.
    /// </summary>
    public StorageChecksumAlgorithm TransferChecksum { get; set; } = StorageChecksumAlgorithm.MD5;

    /// <summary>
    /// Attempts per store call (one block, one ranged read, one commit), the first included, for 408, 429, 5xx,
    /// resets and timeouts, with exponential back-off and jitter. The store's own retry layer is the only one: the
    /// SDK's retries are off. Authorization failures and missing credentials fail at once. 1 to 30; default 8.
    /// </summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>The same setting as <see cref="MaxAttempts"/>, counted without the first attempt; kept for existing configuration.</summary>
    [System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
    public int MaxRetries { get => MaxAttempts - 1; set => MaxAttempts = value + 1; }

    /// <summary>
    /// The access tier of every blob: <c>Hot</c>, <c>Cool</c> or <c>Cold</c> (<c>Archive</c> is refused: a resume
    /// must read at once). Default: the account's default tier.
    /// </summary>
    public string? AccessTier { get; set; }

    /// <summary>An encryption scope of the account (a customer-managed key, for example) for every blob. Default: the container's.</summary>
    public string? EncryptionScope { get; set; }

    /// <summary>Time limit of one HTTP attempt. Default 2 minutes.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Time limit of one store call (one block, one ranged read, one commit), retries included. Default 10 minutes.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>A last say over the SDK client options (after everything above is applied).</summary>
    public Action<BlobClientOptions>? ConfigureClient { get; set; }

    /// <summary>
    /// Builds options from <c>az://container/prefix</c> (account from the connection string) or
    /// <c>https://account.blob.core.windows.net/container/prefix</c>. For the latter, a connection string for the
    /// same account (from the environment) supplies endpoint and key; otherwise set a credential.
    /// </summary>
    public static AzureBlobStoreOptions FromUri(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!string.IsNullOrEmpty(uri.UserInfo) || uri.Query.Contains("sig=", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException("Put credentials in the environment or the store options, never in the checkpoint URI.", nameof(uri));
        if (string.Equals(uri.Scheme, "az", StringComparison.OrdinalIgnoreCase))
        {
            var location = ObjectLocation.FromUri(uri, "az");
            return new AzureBlobStoreOptions { ContainerName = location.Bucket, Prefix = location.Prefix };
        }
        if (string.Equals(uri.Scheme, Uri.UriSchemeHttps, StringComparison.OrdinalIgnoreCase) && AccountOf(uri) is not null)
        {
            var segments = Uri.UnescapeDataString(uri.AbsolutePath).Trim('/').Split('/', 2);
            if (segments[0].Length == 0) throw new ArgumentException($"'{uri}' names no container.", nameof(uri));
            return new AzureBlobStoreOptions
            {
                ServiceUri = new Uri($"https://{uri.Host}"),
                ContainerName = segments[0],
                Prefix = segments.Length > 1 ? ObjectLocation.NormalizePrefix(segments[1]) : "",
            };
        }
        throw new ArgumentException($"'{uri}' is neither az://container/prefix nor https://<account>.blob.core.windows.net/container/prefix.", nameof(uri));
    }

    /// <summary>The account of a <c>https://account.blob.core.windows.net</c> address; null for other hosts.</summary>
    internal static string? AccountOf(Uri uri)
    {
        const string suffix = ".blob.core.windows.net";
        return uri.Host.EndsWith(suffix, StringComparison.OrdinalIgnoreCase) ? uri.Host[..^suffix.Length] : null;
    }

    /// <summary>The access tier as the SDK takes it; null for the account default.</summary>
    internal Azure.Storage.Blobs.Models.AccessTier? Tier
    {
        get
        {
            if (AccessTier is null) return null;
            return new Azure.Storage.Blobs.Models.AccessTier(char.ToUpperInvariant(AccessTier[0]) + AccessTier[1..].ToLowerInvariant());
        }
    }

    /// <summary>A copy pointing at another container and prefix (a location's URI overrides configured options).</summary>
    internal AzureBlobStoreOptions At(string container, string prefix)
    {
        var copy = (AzureBlobStoreOptions)MemberwiseClone();
        copy.ContainerName = container;
        copy.Prefix = prefix;
        return copy;
    }

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(ContainerName)) throw new ArgumentException("ContainerName is required.", nameof(ContainerName));
        ObjectLocation.NormalizePrefix(Prefix);
        if (BlockSize is < 1 << 20 or > 1 << 30) throw new ArgumentOutOfRangeException(nameof(BlockSize), BlockSize, "BlockSize must be 1 MiB to 1 GiB.");
        if (Parallelism is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(Parallelism), Parallelism, "Parallelism must be 1 to 64.");
        if (DownloadPartSize is < 256 << 10 or > 1 << 30) throw new ArgumentOutOfRangeException(nameof(DownloadPartSize), DownloadPartSize, "DownloadPartSize must be 256 KiB to 1 GiB.");
        if (MaxAttempts is < 1 or > 30) throw new ArgumentOutOfRangeException(nameof(MaxAttempts), MaxAttempts, "MaxAttempts must be 1 to 30.");
        if (AccessTier is not null && !(AccessTier.Equals("Hot", StringComparison.OrdinalIgnoreCase) || AccessTier.Equals("Cool", StringComparison.OrdinalIgnoreCase) || AccessTier.Equals("Cold", StringComparison.OrdinalIgnoreCase)))
            throw new ArgumentException($"AccessTier '{AccessTier}' is not Hot, Cool or Cold (Archive blobs cannot be read without rehydration).", nameof(AccessTier));
        if (EncryptionScope is not null && (EncryptionScope.Length is 0 or > 63 || !EncryptionScope.All(char.IsAsciiLetterOrDigit)))
            throw new ArgumentException("EncryptionScope must be the scope's name: 1 to 63 letters and digits.", nameof(EncryptionScope));
        if (RequestTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RequestTimeout), RequestTimeout, "RequestTimeout must be positive.");
        if (OperationTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(OperationTimeout), OperationTimeout, "OperationTimeout must be positive.");
    }
}
