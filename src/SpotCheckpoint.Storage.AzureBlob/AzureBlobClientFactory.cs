using Azure;
using Azure.Core;
using Azure.Storage.Blobs;

namespace SpotCheckpoint.Storage.AzureBlob;

/// <summary>Builds the container client from <see cref="AzureBlobStoreOptions"/> and the environment.</summary>
internal static class AzureBlobClientFactory
{
    public const string ConnectionStringVariable = "AZURE_STORAGE_CONNECTION_STRING";

    /// <summary>
    /// The credential chain for <c>https://</c> accounts given no key, SAS or connection string. Replaceable so that
    /// tests can see the chain chosen without it ever probing a metadata endpoint.
    /// </summary>
    internal static Func<TokenCredential> DefaultCredential { get; set; } = () => new Azure.Identity.DefaultAzureCredential();

    public static BlobContainerClient Create(AzureBlobStoreOptions options)
    {
        var clientOptions = new BlobClientOptions();
        // One retry layer: the store's (MaxAttempts per call, see StoreOperation); the SDK only times each attempt.
        clientOptions.Retry.Mode = RetryMode.Fixed;
        clientOptions.Retry.MaxRetries = 0;
        clientOptions.Retry.NetworkTimeout = options.RequestTimeout;
        clientOptions.Diagnostics.IsLoggingContentEnabled = false;
        if (options.EncryptionScope is not null) clientOptions.EncryptionScope = options.EncryptionScope;
        options.ConfigureClient?.Invoke(clientOptions);

        var environment = Environment.GetEnvironmentVariable(ConnectionStringVariable);
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
            return new BlobContainerClient(options.ConnectionString, options.ContainerName, clientOptions);
        if (options.ServiceUri is { } service)
        {
            var container = ContainerUri(service, options.ContainerName);
            if (options.Credential is not null) return new BlobContainerClient(container, options.Credential, clientOptions);
            if (options.SharedKeyCredential is not null) return new BlobContainerClient(container, options.SharedKeyCredential, clientOptions);
            if (options.SasCredential is not null) return new BlobContainerClient(container, options.SasCredential, clientOptions);
            // A connection string for the same account supplies endpoint and key (this is how an emulator stands in).
            var account = AzureBlobStoreOptions.AccountOf(service);
            if (!string.IsNullOrWhiteSpace(environment) && account is not null &&
                string.Equals(AccountNameOf(environment), account, StringComparison.OrdinalIgnoreCase))
                return new BlobContainerClient(environment, options.ContainerName, clientOptions);
            // An https account with nothing else configured: Entra ID through the default chain (managed identity on a VM).
            if (string.Equals(service.Scheme, Uri.UriSchemeHttps, StringComparison.OrdinalIgnoreCase) && string.IsNullOrEmpty(service.Query))
                return new BlobContainerClient(container, DefaultCredential(), clientOptions);
            if (!string.IsNullOrEmpty(service.Query)) return new BlobContainerClient(container, clientOptions); // a SAS in the URI
            throw new ArgumentException(
                $"No credential for {service.Host}: set Credential (for example DefaultAzureCredential), SharedKeyCredential or SasCredential, " +
                $"or {ConnectionStringVariable} for that account (an http:// endpoint never gets Entra ID tokens).");
        }
        if (!string.IsNullOrWhiteSpace(environment))
            return new BlobContainerClient(environment, options.ContainerName, clientOptions);
        throw new ArgumentException($"No Azure storage account configured: set {ConnectionStringVariable}, ConnectionString, or ServiceUri with a credential.");
    }

    /// <summary>The container's address under <paramref name="service"/>, keeping a path (an emulator's account) and a query (a SAS).</summary>
    public static Uri ContainerUri(Uri service, string container)
    {
        var builder = new UriBuilder(service);
        builder.Path = builder.Path.TrimEnd('/') + "/" + Uri.EscapeDataString(container);
        return builder.Uri;
    }

    /// <summary>What to set, for failures that no retry can fix (authorization, no credentials); null otherwise.</summary>
    public static string? Unrecoverable(Exception ex) => ex switch
    {
        RequestFailedException { Status: 403 } =>
            "access denied: the credential lacks a data role on the container (Storage Blob Data Contributor), the SAS lacks permissions (racwdl) or has expired, or the account key is wrong",
        RequestFailedException { Status: 401 } => "the credential was refused: check the account key, SAS or Entra ID identity",
        RequestFailedException { ErrorCode: "ContainerNotFound" } => "the container does not exist: create it, or check ContainerName and the account",
        Azure.Identity.CredentialUnavailableException or Azure.Identity.AuthenticationFailedException =>
            $"no Azure credential could be obtained: set {ConnectionStringVariable}, a SAS or key in the store options, or an identity for DefaultAzureCredential (AZURE_CLIENT_ID with workload or managed identity)",
        _ => null,
    };

    /// <summary>The AccountName=… value of a connection string (never the key).</summary>
    public static string? AccountNameOf(string connectionString)
    {
        foreach (var part in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && part[..eq].Trim().Equals("AccountName", StringComparison.OrdinalIgnoreCase)) return part[(eq + 1)..].Trim();
        }
        return null;
    }

    /// <summary>True for failures worth another attempt.</summary>
    public static bool IsTransient(Exception ex) => Unrecoverable(ex) is null && ex switch
    {
        RequestFailedException { Status: 408 or 429 or >= 500 } => true,
        RequestFailedException { Status: > 0 } => false,
        _ => StoreOperation.IsNetworkFailure(ex),
    };
}
