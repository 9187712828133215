using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Hosting;

/// <summary>Remembers that AddSpotCheckpoint ran, and which configuration path its keys are reported under.</summary>
internal sealed record HostedCheckpointerMarker(string ConfigurationPath);

/// <summary>Creates the container's <see cref="Checkpointer"/> from the validated options.</summary>
internal static class HostedCheckpointerFactory
{
    public static Checkpointer Create(IServiceProvider provider)
    {
        var settings = provider.GetRequiredService<IOptions<SpotCheckpointOptions>>().Value;
        var time = provider.GetService<TimeProvider>() ?? TimeProvider.System;
        var options = new CheckpointerOptions();
        CheckpointerOptionsMapper.Apply(settings, options, time);
        options.Metrics = provider.GetRequiredService<SpotCheckpointMetrics>();
        foreach (var configuration in provider.GetServices<CheckpointerConfiguration>()) configuration.Configure(provider, options);
        var store = string.IsNullOrWhiteSpace(settings.Location)
            ? provider.GetRequiredService<ICheckpointStore>()
            : provider.GetRequiredService<OwnedStore>().Store;
        return new Checkpointer(store, options, provider.GetService<ILogger<Checkpointer>>(), time);
    }
}

/// <summary>The store opened from <see cref="SpotCheckpointOptions.Location"/>; disposed with the container.</summary>
internal sealed class OwnedStore : IAsyncDisposable
{
    private readonly Lazy<ICheckpointStore> _store;

    public OwnedStore(IOptions<SpotCheckpointOptions> options, HostedCheckpointerMarker marker, IServiceProvider services, IEnumerable<HostedStoreScheme> schemes)
    {
        var registered = schemes.ToList();
        _store = new Lazy<ICheckpointStore>(() =>
        {
            var location = options.Value.Location!;
            try
            {
                // A provider registered with the builder (UseS3Store, …) opens its schemes from the container.
                int colon = location.IndexOf("://", StringComparison.Ordinal);
                if (colon > 0 && registered.LastOrDefault(s => string.Equals(s.Scheme, location[..colon], StringComparison.OrdinalIgnoreCase)) is { } scheme)
                    return scheme.Open(services, new Uri(location));
                return CheckpointStores.Open(location);
            }
            catch (UriFormatException ex)
            {
                throw new OptionsValidationException(Options.DefaultName, typeof(SpotCheckpointOptions),
                    [$"{marker.ConfigurationPath}:Location '{LocationRedaction.Redact(location)}' is not a valid URI: {ex.Message}"]);
            }
            catch (ArgumentException ex)
            {
                throw new OptionsValidationException(Options.DefaultName, typeof(SpotCheckpointOptions),
                    // Redacted: a location may carry a SAS signature, and SDK messages may quote it.
                    [$"{marker.ConfigurationPath}:Location '{LocationRedaction.Redact(location)}' cannot be opened: {LocationRedaction.Redact(ex.Message.Split(" (Parameter", 2)[0])}"]);
            }
        });
    }

    public ICheckpointStore Store => _store.Value;

    public ValueTask DisposeAsync() => _store.IsValueCreated ? _store.Value.DisposeAsync() : ValueTask.CompletedTask;
}
