using Microsoft.Extensions.Logging;

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
        _ = loggerFactory;
        // Store provider packages register their schemes here, one line each, with their endpoints and credentials
        // taken from the SDKs' standard environment variables, for example:
        //     S3CheckpointStore.Register(loggerFactory: loggerFactory);
    }
}
