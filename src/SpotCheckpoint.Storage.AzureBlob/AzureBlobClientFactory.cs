using Azure;
using Azure.Core;
using Azure.Storage.Blobs;

namespace SpotCheckpoint.Storage.AzureBlob;

/// <summary>Builds the container client from <see cref="AzureBlobStoreOptions"/> and the environment.</summary>
internal static class AzureBlobClientFactory
{
    public const string ConnectionStringVariable = "AZURE_STORAGE_CONNECTION_STRING";

    public static BlobContainerClient Create(AzureBlobStoreOptions options)
    {
        var clientOptions = new BlobClientOptions();
        clientOptions.Retry.Mode = RetryMode.Exponential;
        clientOptions.Retry.MaxRetries = options.MaxRetries;
        clientOptions.Retry.Delay = TimeSpan.FromMilliseconds(500);
        clientOptions.Retry.MaxDelay = TimeSpan.FromSeconds(20);
        clientOptions.Retry.NetworkTimeout = options.RequestTimeout;
        clientOptions.Diagnostics.IsLoggingContentEnabled = false;
        options.ConfigureClient?.Invoke(clientOptions);

        var environment = Environment.GetEnvironmentVariable(ConnectionStringVariable);
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
            return new BlobContainerClient(options.ConnectionString, options.ContainerName, clientOptions);
        if (options.ServiceUri is { } service)
        {
            var container = new Uri(service, options.ContainerName);
            if (options.Credential is not null) return new BlobContainerClient(container, options.Credential, clientOptions);
            if (options.SharedKeyCredential is not null) return new BlobContainerClient(container, options.SharedKeyCredential, clientOptions);
            if (options.SasCredential is not null) return new BlobContainerClient(container, options.SasCredential, clientOptions);
            // A connection string for the same account supplies endpoint and key (this is how an emulator stands in).
            var account = AzureBlobStoreOptions.AccountOf(service);
            if (!string.IsNullOrWhiteSpace(environment) && account is not null &&
                string.Equals(AccountNameOf(environment), account, StringComparison.OrdinalIgnoreCase))
                return new BlobContainerClient(environment, options.ContainerName, clientOptions);
            throw new ArgumentException(
                $"No credential for {service.Host}: set Credential (for example DefaultAzureCredential), SharedKeyCredential or SasCredential, " +
                $"or {ConnectionStringVariable} for that account.");
        }
        if (!string.IsNullOrWhiteSpace(environment))
            return new BlobContainerClient(environment, options.ContainerName, clientOptions);
        throw new ArgumentException($"No Azure storage account configured: set {ConnectionStringVariable}, ConnectionString, or ServiceUri with a credential.");
    }

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

    /// <summary>True for failures worth another attempt after the SDK's own retries.</summary>
    public static bool IsTransient(Exception ex) => ex switch
    {
        RequestFailedException { Status: 408 or 429 or >= 500 } => true,
        RequestFailedException { Status: > 0 } => false,
        _ => StoreOperation.IsNetworkFailure(ex),
    };
}
