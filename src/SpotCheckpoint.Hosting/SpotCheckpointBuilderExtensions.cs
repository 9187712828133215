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

/// <summary>One <see cref="SpotCheckpointBuilderExtensions.ConfigureCheckpointer(ISpotCheckpointBuilder, Action{IServiceProvider, CheckpointerOptions})"/> callback.</summary>
internal sealed record CheckpointerConfiguration(Action<IServiceProvider, CheckpointerOptions> Configure);
