using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Hosting;

/// <summary>Configures the checkpointer registered by <c>AddSpotCheckpoint</c>.</summary>
public static class SpotCheckpointBuilderExtensions
{
    /// <summary>
    /// Has the last word over the core <see cref="CheckpointerOptions"/> after configuration was applied: add notice
    /// sources with provider-specific options, set a policy object of your own, and so on. Runs once, when the
    /// checkpointer is created.
    /// </summary>
    public static ISpotCheckpointBuilder ConfigureCheckpointer(this ISpotCheckpointBuilder builder, Action<IServiceProvider, CheckpointerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddSingleton(new CheckpointerConfiguration(configure));
        return builder;
    }

    /// <inheritdoc cref="ConfigureCheckpointer(ISpotCheckpointBuilder, Action{IServiceProvider, CheckpointerOptions})"/>
    public static ISpotCheckpointBuilder ConfigureCheckpointer(this ISpotCheckpointBuilder builder, Action<CheckpointerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return builder.ConfigureCheckpointer((_, options) => configure(options));
    }

    /// <summary>
    /// Opens <see cref="SpotCheckpointOptions.Location"/> URIs with <paramref name="scheme"/> (such as <c>s3</c>)
    /// through the container, so that the store gets its options, SDK client and logger from dependency injection.
    /// Store provider packages call this from their <c>Use…Store</c> extensions; a later registration of the same
    /// scheme wins. Schemes not registered here fall back to <see cref="CheckpointStores"/>.
    /// </summary>
    public static ISpotCheckpointBuilder AddStoreScheme(this ISpotCheckpointBuilder builder, string scheme, Func<IServiceProvider, Uri, ICheckpointStore> open)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(scheme);
        ArgumentNullException.ThrowIfNull(open);
        builder.Services.AddSingleton(new HostedStoreScheme(scheme, open));
        return builder;
    }

    /// <summary>
    /// Registers the store checkpoints go to when <see cref="SpotCheckpointOptions.Location"/> is not set (replacing
    /// any <see cref="ICheckpointStore"/> registered before). The container disposes it. Store provider packages
    /// plug in here or register an <see cref="ICheckpointStore"/> themselves.
    /// </summary>
    public static ISpotCheckpointBuilder UseStore(this ISpotCheckpointBuilder builder, Func<IServiceProvider, ICheckpointStore> factory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(factory);
        builder.Services.RemoveAll<ICheckpointStore>();
        builder.Services.AddSingleton(factory);
        return builder;
    }
}

/// <summary>One scheme registered with <see cref="SpotCheckpointBuilderExtensions.AddStoreScheme"/>.</summary>
internal sealed record HostedStoreScheme(string Scheme, Func<IServiceProvider, Uri, ICheckpointStore> Open);

/// <summary>One <see cref="SpotCheckpointBuilderExtensions.ConfigureCheckpointer(ISpotCheckpointBuilder, Action{IServiceProvider, CheckpointerOptions})"/> callback.</summary>
internal sealed record CheckpointerConfiguration(Action<IServiceProvider, CheckpointerOptions> Configure);
