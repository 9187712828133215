using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Storage.AzureBlob;
using Azure.Storage.Blobs;

namespace SpotCheckpoint.Hosting;

/// <summary>
/// Plugs the Azure Blob Storage store into the hosted checkpointer: <c>az://</c> and <c>https://&lt;account&gt;.blob.core.windows.net</c> locations in
/// <see cref="SpotCheckpointOptions.Location"/> open with <see cref="AzureBlobStoreOptions"/> from the container (named options,
/// validated at start-up), the container's <see cref="BlobServiceClient"/> when one is registered, and the container's logger.
/// </summary>
public static class AzureBlobSpotCheckpointBuilderExtensions
{
    /// <summary>Uses the Azure Blob Storage store with options set in code (<paramref name="configure"/>).</summary>
    public static ISpotCheckpointBuilder UseAzureBlobStore(this ISpotCheckpointBuilder builder, Action<AzureBlobStoreOptions>? configure = null) =>
        builder.UseAzureBlobStore(name: null, configuration: null, configure);

    /// <summary>Uses the Azure Blob Storage store with options bound from <paramref name="configuration"/> (for example the <c>Stores:AzureBlob</c> section), then <paramref name="configure"/>.</summary>
    public static ISpotCheckpointBuilder UseAzureBlobStore(this ISpotCheckpointBuilder builder, IConfiguration configuration, Action<AzureBlobStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return builder.UseAzureBlobStore(name: null, configuration, configure);
    }

    /// <summary>
    /// Uses the Azure Blob Storage store with the named options <paramref name="name"/> (default: <see cref="Options.DefaultName"/>),
    /// bound from <paramref name="configuration"/> when given, then <paramref name="configure"/>. The bucket (container)
    /// and prefix come from the <see cref="SpotCheckpointOptions.Location"/> URI; everything else from the options.
    /// </summary>
    public static ISpotCheckpointBuilder UseAzureBlobStore(this ISpotCheckpointBuilder builder, string? name, IConfiguration? configuration, Action<AzureBlobStoreOptions>? configure)
        => HostedStoreRegistration.Register<AzureBlobStoreOptions>(builder, name, configuration, configure, "AzureBlob", ["az", "https"],
            // The container may come from the location URI instead; everything else is checked here.
            o => (string.IsNullOrWhiteSpace(o.ContainerName) ? o.At("placeholder", o.Prefix) : o).Validate(),
            (provider, configured, uri) => Open(provider, configured, AzureBlobStoreOptions.FromUri(uri)));

    private static ICheckpointStore Open(IServiceProvider provider, AzureBlobStoreOptions configured, AzureBlobStoreOptions location)
    {
        var options = configured.At(location.ContainerName, location.Prefix);
        var logging = provider.GetService<ILoggerFactory>();
        if (location.ServiceUri is { } service && options.ServiceUri is null) options.ServiceUri = service;
        return provider.GetService<BlobServiceClient>() is { } client
            ? new AzureBlobCheckpointStore(client.GetBlobContainerClient(options.ContainerName), options, logging)
            : new AzureBlobCheckpointStore(options, logging);
    }
}
