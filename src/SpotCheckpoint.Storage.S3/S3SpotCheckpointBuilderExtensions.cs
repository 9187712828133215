using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Storage.S3;
using Amazon.S3;

namespace SpotCheckpoint.Hosting;

/// <summary>
/// Plugs the Amazon S3 store into the hosted checkpointer: <c>s3://</c> locations in
/// <see cref="SpotCheckpointOptions.Location"/> open with <see cref="S3StoreOptions"/> from the container (named options,
/// validated at start-up), the container's <see cref="IAmazonS3"/> when one is registered, and the container's logger.
/// </summary>
public static class S3SpotCheckpointBuilderExtensions
{
    /// <summary>Uses the Amazon S3 store with options set in code (<paramref name="configure"/>).</summary>
    public static ISpotCheckpointBuilder UseS3Store(this ISpotCheckpointBuilder builder, Action<S3StoreOptions>? configure = null) =>
        builder.UseS3Store(name: null, configuration: null, configure);

    /// <summary>Uses the Amazon S3 store with options bound from <paramref name="configuration"/> (for example the <c>Stores:S3</c> section), then <paramref name="configure"/>.</summary>
    public static ISpotCheckpointBuilder UseS3Store(this ISpotCheckpointBuilder builder, IConfiguration configuration, Action<S3StoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return builder.UseS3Store(name: null, configuration, configure);
    }

    /// <summary>
    /// Uses the Amazon S3 store with the named options <paramref name="name"/> (default: <see cref="Options.DefaultName"/>),
    /// bound from <paramref name="configuration"/> when given, then <paramref name="configure"/>. The bucket (container)
    /// and prefix come from the <see cref="SpotCheckpointOptions.Location"/> URI; everything else from the options.
    /// </summary>
    public static ISpotCheckpointBuilder UseS3Store(this ISpotCheckpointBuilder builder, string? name, IConfiguration? configuration, Action<S3StoreOptions>? configure)
        => HostedStoreRegistration.Register<S3StoreOptions>(builder, name, configuration, configure, "S3", ["s3"],
            // The bucket may come from the location URI instead; everything else is checked here.
            o => (string.IsNullOrWhiteSpace(o.BucketName) ? o.At("placeholder", o.Prefix) : o).Validate(),
            (provider, configured, uri) => Open(provider, configured, S3StoreOptions.FromUri(uri)));

    private static ICheckpointStore Open(IServiceProvider provider, S3StoreOptions configured, S3StoreOptions location)
    {
        var options = configured.At(location.BucketName, location.Prefix);
        var logging = provider.GetService<ILoggerFactory>();
        return provider.GetService<IAmazonS3>() is { } client
            ? new S3CheckpointStore(client, options, logging)
            : new S3CheckpointStore(options, logging);
    }
}
