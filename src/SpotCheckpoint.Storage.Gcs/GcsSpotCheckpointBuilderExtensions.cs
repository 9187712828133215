using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Storage.Gcs;
using Google.Cloud.Storage.V1;

namespace SpotCheckpoint.Hosting;

/// <summary>
/// Plugs the Google Cloud Storage store into the hosted checkpointer: <c>gs://</c> locations in
/// <see cref="SpotCheckpointOptions.Location"/> open with <see cref="GcsStoreOptions"/> from the container (named options,
/// validated at start-up), the container's <see cref="StorageClient"/> when one is registered, and the container's logger.
/// </summary>
public static class GcsSpotCheckpointBuilderExtensions
{
    /// <summary>Uses the Google Cloud Storage store with options set in code (<paramref name="configure"/>).</summary>
    public static ISpotCheckpointBuilder UseGcsStore(this ISpotCheckpointBuilder builder, Action<GcsStoreOptions>? configure = null) =>
        builder.UseGcsStore(name: null, configuration: null, configure);

    /// <summary>Uses the Google Cloud Storage store with options bound from <paramref name="configuration"/> (for example the <c>Stores:Gcs</c> section), then <paramref name="configure"/>.</summary>
    public static ISpotCheckpointBuilder UseGcsStore(this ISpotCheckpointBuilder builder, IConfiguration configuration, Action<GcsStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return builder.UseGcsStore(name: null, configuration, configure);
    }

    /// <summary>
    /// Uses the Google Cloud Storage store with the named options <paramref name="name"/> (default: <see cref="Options.DefaultName"/>),
    /// bound from <paramref name="configuration"/> when given, then <paramref name="configure"/>. The bucket (container)
    /// and prefix come from the <see cref="SpotCheckpointOptions.Location"/> URI; everything else from the options.
    /// </summary>
    public static ISpotCheckpointBuilder UseGcsStore(this ISpotCheckpointBuilder builder, string? name, IConfiguration? configuration, Action<GcsStoreOptions>? configure)
        => HostedStoreRegistration.Register<GcsStoreOptions>(builder, name, configuration, configure, "Gcs", ["gs"],
            // The bucket may come from the location URI instead; everything else is checked here.
            o => (string.IsNullOrWhiteSpace(o.BucketName) ? o.At("placeholder", o.Prefix) : o).Validate(),
            (provider, configured, uri) => Open(provider, configured, GcsStoreOptions.FromUri(uri)));

    private static ICheckpointStore Open(IServiceProvider provider, GcsStoreOptions configured, GcsStoreOptions location)
    {
        var options = configured.At(location.BucketName, location.Prefix);
        var logging = provider.GetService<ILoggerFactory>();
        return provider.GetService<StorageClient>() is { } client
            ? new GcsCheckpointStore(client, options, logging)
            : new GcsCheckpointStore(options, logging);
    }
}
