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
    {
        ArgumentNullException.ThrowIfNull(builder);
        name ??= Options.DefaultName;
        var options = builder.Services.AddOptions<GcsStoreOptions>(name);
        if (configuration is not null) options.Bind(configuration);
        if (configure is not null) options.Configure(configure);
        options.ValidateOnStart();
        var path = (configuration as IConfigurationSection)?.Path ?? "Gcs";
        builder.Services.AddSingleton<IValidateOptions<GcsStoreOptions>>(new GcsStoreOptionsValidator(name, path));
        foreach (var scheme in new[] { "gs" })
            builder.AddStoreScheme(scheme, (provider, uri) => Open(provider, name, GcsStoreOptions.FromUri(uri)));
        return builder;
    }

    private static ICheckpointStore Open(IServiceProvider provider, string name, GcsStoreOptions location)
    {
        var configured = provider.GetRequiredService<IOptionsMonitor<GcsStoreOptions>>().Get(name);
        var options = configured.At(location.BucketName, location.Prefix);
        var logging = provider.GetService<ILoggerFactory>();
        return provider.GetService<StorageClient>() is { } client
            ? new GcsCheckpointStore(client, options, logging)
            : new GcsCheckpointStore(options, logging);
    }
}

/// <summary>Validates named <see cref="GcsStoreOptions"/> at start-up; failures name the configuration key.</summary>
internal sealed class GcsStoreOptionsValidator(string name, string path) : IValidateOptions<GcsStoreOptions>
{
    public ValidateOptionsResult Validate(string? optionsName, GcsStoreOptions options)
    {
        if (!string.Equals(optionsName ?? Options.DefaultName, name, StringComparison.Ordinal)) return ValidateOptionsResult.Skip;
        try
        {
            // The bucket may come from the location URI instead; everything else is checked here.
            (string.IsNullOrWhiteSpace(options.BucketName) ? options.At("placeholder", options.Prefix) : options).Validate();
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException ex)
        {
            return ValidateOptionsResult.Fail($"{path}:{ex.ParamName} {LocationRedaction.Redact(ex.Message.Split(" (Parameter", 2)[0])}");
        }
    }
}
