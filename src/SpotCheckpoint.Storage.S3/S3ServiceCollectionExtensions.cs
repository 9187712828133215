using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SpotCheckpoint.Storage.S3;

namespace SpotCheckpoint.Storage;

/// <summary>Registers the S3 checkpoint store with a service collection.</summary>
public static class S3ServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="ICheckpointStore"/> backed by S3 (disposed with the container). The
    /// store logs through the container's <see cref="ILoggerFactory"/> when there is one.
    /// </summary>
    public static IServiceCollection AddS3CheckpointStore(this IServiceCollection services, Action<S3StoreOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new S3StoreOptions();
        configure(options);
        options.Validate();
        services.AddSingleton<ICheckpointStore>(provider => new S3CheckpointStore(options, provider.GetService<ILoggerFactory>()));
        return services;
    }
}
