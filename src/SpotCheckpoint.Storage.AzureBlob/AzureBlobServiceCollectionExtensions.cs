using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SpotCheckpoint.Storage.AzureBlob;

namespace SpotCheckpoint.Storage;

/// <summary>Registers the AzureBlob checkpoint store with a service collection.</summary>
public static class AzureBlobServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="ICheckpointStore"/> backed by AzureBlob (disposed with the container). The
    /// store logs through the container's <see cref="ILoggerFactory"/> when there is one.
    /// </summary>
    public static IServiceCollection AddAzureBlobCheckpointStore(this IServiceCollection services, Action<AzureBlobStoreOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new AzureBlobStoreOptions();
        configure(options);
        options.Validate();
        services.AddSingleton<ICheckpointStore>(provider => new AzureBlobCheckpointStore(options, provider.GetService<ILoggerFactory>()));
        return services;
    }
}
