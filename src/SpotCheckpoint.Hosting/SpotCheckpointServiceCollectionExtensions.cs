using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using SpotCheckpoint;
using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers SpotCheckpoint with a service collection.</summary>
public static class SpotCheckpointServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="Checkpointer"/> configured from <paramref name="configuration"/>, validated
    /// when the host starts, and a hosted service that starts notice polling with the host and treats host shutdown
    /// as a termination notice. Inject the <see cref="Checkpointer"/> into your training service, register your
    /// model, optimizer and state with it, and honour <see cref="Checkpointer.StopRequested"/> after each step.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">
    /// The application's configuration, whose <c>SpotCheckpoint</c> section is bound, or a section to bind as is
    /// (for example <c>builder.Configuration.GetSection("Training:Checkpoints")</c>). Unknown keys are errors.
    /// </param>
    /// <param name="configure">Applied after binding, for values set in code.</param>
    public static ISpotCheckpointBuilder AddSpotCheckpoint(this IServiceCollection services, IConfiguration configuration, Action<SpotCheckpointOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration as IConfigurationSection ?? configuration.GetSection(SpotCheckpointOptions.SectionName);
        var options = services.AddOptions<SpotCheckpointOptions>().Bind(section, binder => binder.ErrorOnUnknownConfiguration = true);
        if (configure is not null) options.Configure(configure);
        return AddCore(services, section.Path);
    }

    /// <summary>
    /// Registers a singleton <see cref="Checkpointer"/> configured in code (no configuration is bound), validated when
    /// the host starts, and the hosted service described at
    /// <see cref="AddSpotCheckpoint(IServiceCollection, IConfiguration, Action{SpotCheckpointOptions})"/>.
    /// </summary>
    public static ISpotCheckpointBuilder AddSpotCheckpoint(this IServiceCollection services, Action<SpotCheckpointOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<SpotCheckpointOptions>().Configure(configure);
        return AddCore(services, SpotCheckpointOptions.SectionName);
    }

    private static SpotCheckpointBuilder AddCore(IServiceCollection services, string configurationPath)
    {
        var builder = new SpotCheckpointBuilder(services);
        if (services.Any(d => d.ServiceType == typeof(HostedCheckpointerMarker))) return builder; // called twice: options add up
        services.AddSingleton(new HostedCheckpointerMarker(configurationPath));
        services.AddOptions<SpotCheckpointOptions>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<SpotCheckpointOptions>>(provider =>
            new SpotCheckpointOptionsValidator(configurationPath, provider.GetService<IServiceProviderIsService>()));
        services.TryAddSingleton(provider =>
        {
            var settings = provider.GetRequiredService<IOptions<SpotCheckpointOptions>>().Value;
            var metrics = new SpotCheckpointMetrics(provider.GetService<System.Diagnostics.Metrics.IMeterFactory>(), provider.GetService<TimeProvider>());
            if (settings.Cost.OnDemandPricePerHour is { } onDemand && settings.Cost.SpotPricePerHour is { } spot) metrics.SetPrices(onDemand, spot);
            return metrics;
        });
        services.TryAddSingleton<OwnedStore>();
        services.TryAddSingleton(HostedCheckpointerFactory.Create);
        services.AddHostedService<SpotCheckpointHostedService>();
        return builder;
    }
}
