using System.Net;
using Google;
using Google.Cloud.Storage.V1;

namespace SpotCheckpoint.Storage.Gcs;

/// <summary>Builds the client from <see cref="GcsStoreOptions"/> and the environment.</summary>
internal static class GcsClientFactory
{
    public const string EmulatorVariable = "STORAGE_EMULATOR_HOST";

    public static StorageClient Create(GcsStoreOptions options)
    {
        var builder = new StorageClientBuilder { EmulatorDetection = Google.Api.Gax.EmulatorDetection.None };
        var emulator = options.EmulatorHost ?? Environment.GetEnvironmentVariable(EmulatorVariable);
        if (!string.IsNullOrWhiteSpace(emulator))
        {
            builder.BaseUri = EmulatorBase(emulator) + "storage/v1/";
            builder.UnauthenticatedAccess = true;
        }
        else if (options.Credential is not null)
        {
            builder.GoogleCredential = options.Credential;
        }
        options.ConfigureClient?.Invoke(builder);
        var client = builder.Build();
        client.Service.HttpClient.Timeout = options.RequestTimeout;
        // One retry layer: the store's (MaxAttempts per call). The client library's handler would retry 503s and
        // network errors under it.
        client.Service.HttpClient.MessageHandler.NumTries = 1;
        return client;
    }

    /// <summary><c>http://host:port/</c> from <c>host:port</c> or a full URL.</summary>
    public static string EmulatorBase(string emulatorHost)
    {
        var value = emulatorHost.Trim().TrimEnd('/');
        if (!value.Contains("://", StringComparison.Ordinal)) value = "http://" + value;
        return value + "/";
    }

    /// <summary>What to set, for failures that no retry can fix (access denied, no credentials); null otherwise.</summary>
    public static string? Unrecoverable(Exception ex) => ex switch
    {
        GoogleApiException { HttpStatusCode: HttpStatusCode.Forbidden } or GcsHttpException { Status: HttpStatusCode.Forbidden } =>
            "access denied: the service account lacks a role on the bucket (roles/storage.objectUser), or on the KMS key for CMEK (roles/cloudkms.cryptoKeyEncrypterDecrypter)",
        GoogleApiException { HttpStatusCode: HttpStatusCode.Unauthorized } or GcsHttpException { Status: HttpStatusCode.Unauthorized } =>
            "the credentials were refused: check GOOGLE_APPLICATION_CREDENTIALS or the VM's service account",
        InvalidOperationException io when io.Message.Contains("credentials", StringComparison.OrdinalIgnoreCase) =>
            "no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS, run on a VM or pod with a service account, or set GcsStoreOptions.Credential",
        _ => null,
    };

    /// <summary>True for failures worth another attempt.</summary>
    public static bool IsTransient(Exception ex) => Unrecoverable(ex) is null && ex switch
    {
        GoogleApiException { HttpStatusCode: HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout } => true,
        GoogleApiException api when (int)api.HttpStatusCode >= 500 => true,
        GoogleApiException => false,
        GcsHttpException http => http.IsTransient,
        _ => StoreOperation.IsNetworkFailure(ex),
    };
}

/// <summary>An HTTP status the store answered on a raw request (resumable uploads, ranged reads).</summary>
internal sealed class GcsHttpException(HttpStatusCode status, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;

    public bool IsTransient => Status is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout || (int)Status >= 500;
}
