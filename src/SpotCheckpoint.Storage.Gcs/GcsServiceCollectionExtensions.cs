using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SpotCheckpoint.Storage.Gcs;

namespace SpotCheckpoint.Storage;

/// <summary>Registers the Gcs checkpoint store with a service collection.</summary>
public static class GcsServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="ICheckpointStore"/> backed by Gcs (disposed with the container). The
    /// store logs through the container's <see cref="ILoggerFactory"/> when there is one.
    /// </summary>
    public static IServiceCollection AddGcsCheckpointStore(this IServiceCollection services, Action<GcsStoreOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new GcsStoreOptions();
        configure(options);
        options.Validate();
        services.AddSingleton<ICheckpointStore>(provider => new GcsCheckpointStore(options, provider.GetService<ILoggerFactory>()));
        return services;
    }
}
