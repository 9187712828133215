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
    {
        ArgumentNullException.ThrowIfNull(builder);
        name ??= Options.DefaultName;
        var options = builder.Services.AddOptions<S3StoreOptions>(name);
        if (configuration is not null) options.Bind(configuration);
        if (configure is not null) options.Configure(configure);
        options.ValidateOnStart();
        var path = (configuration as IConfigurationSection)?.Path ?? "S3";
        builder.Services.AddSingleton<IValidateOptions<S3StoreOptions>>(new S3StoreOptionsValidator(name, path));
        foreach (var scheme in new[] { "s3" })
            builder.AddStoreScheme(scheme, (provider, uri) => Open(provider, name, S3StoreOptions.FromUri(uri)));
        return builder;
    }

    private static ICheckpointStore Open(IServiceProvider provider, string name, S3StoreOptions location)
    {
        var configured = provider.GetRequiredService<IOptionsMonitor<S3StoreOptions>>().Get(name);
        var options = configured.At(location.BucketName, location.Prefix);
        var logging = provider.GetService<ILoggerFactory>();
        return provider.GetService<IAmazonS3>() is { } client
            ? new S3CheckpointStore(client, options, logging)
            : new S3CheckpointStore(options, logging);
    }
}

/// <summary>Validates named <see cref="S3StoreOptions"/> at start-up; failures name the configuration key.</summary>
internal sealed class S3StoreOptionsValidator(string name, string path) : IValidateOptions<S3StoreOptions>
{
    public ValidateOptionsResult Validate(string? optionsName, S3StoreOptions options)
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
