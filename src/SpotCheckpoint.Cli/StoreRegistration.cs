using Microsoft.Extensions.Logging;
using SpotCheckpoint.Storage.AzureBlob;
using SpotCheckpoint.Storage.Gcs;
using SpotCheckpoint.Storage.S3;

namespace SpotCheckpoint.Cli;

/// <summary>
/// Makes the store providers' URI schemes (<c>s3://</c>, <c>gs://</c>, <c>az://</c>, …) known to
/// <see cref="Storage.CheckpointStores"/> before a verb opens a location. Local paths and <c>file://</c> URIs need
/// nothing. Every verb reaches its stores through <see cref="Storage.CheckpointStores.Open"/>, so a provider
/// registered here works with all of them.
/// </summary>
internal static class StoreRegistration
{
    private static int _registered;

    /// <summary>Registers every provider once per process.</summary>
    public static void RegisterProviders(ILoggerFactory? loggerFactory = null)
    {
        if (Interlocked.Exchange(ref _registered, 1) != 0) return;
        // Endpoints and credentials come from the SDKs' standard environment variables (see docs/storage.md).
        S3CheckpointStore.Register(loggerFactory: loggerFactory);
        GcsCheckpointStore.Register(loggerFactory: loggerFactory);
        AzureBlobCheckpointStore.Register(loggerFactory: loggerFactory);
    }
}
