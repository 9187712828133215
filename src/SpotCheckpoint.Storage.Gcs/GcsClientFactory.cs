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
        return client;
    }

    /// <summary><c>http://host:port/</c> from <c>host:port</c> or a full URL.</summary>
    public static string EmulatorBase(string emulatorHost)
    {
        var value = emulatorHost.Trim().TrimEnd('/');
        if (!value.Contains("://", StringComparison.Ordinal)) value = "http://" + value;
        return value + "/";
    }

    /// <summary>True for failures worth another attempt.</summary>
    public static bool IsTransient(Exception ex) => ex switch
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
