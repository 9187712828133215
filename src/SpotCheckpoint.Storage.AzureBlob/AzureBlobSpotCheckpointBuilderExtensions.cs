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
    {
        ArgumentNullException.ThrowIfNull(builder);
        name ??= Options.DefaultName;
        var options = builder.Services.AddOptions<AzureBlobStoreOptions>(name);
        if (configuration is not null) options.Bind(configuration);
        if (configure is not null) options.Configure(configure);
        options.ValidateOnStart();
        var path = (configuration as IConfigurationSection)?.Path ?? "AzureBlob";
        builder.Services.AddSingleton<IValidateOptions<AzureBlobStoreOptions>>(new AzureBlobStoreOptionsValidator(name, path));
        foreach (var scheme in new[] { "az", "https" })
            builder.AddStoreScheme(scheme, (provider, uri) => Open(provider, name, AzureBlobStoreOptions.FromUri(uri)));
        return builder;
    }

    private static ICheckpointStore Open(IServiceProvider provider, string name, AzureBlobStoreOptions location)
    {
        var configured = provider.GetRequiredService<IOptionsMonitor<AzureBlobStoreOptions>>().Get(name);
        var options = configured.At(location.ContainerName, location.Prefix);
        var logging = provider.GetService<ILoggerFactory>();
        if (location.ServiceUri is { } service && options.ServiceUri is null) options.ServiceUri = service;
        return provider.GetService<BlobServiceClient>() is { } client
            ? new AzureBlobCheckpointStore(client.GetBlobContainerClient(options.ContainerName), options, logging)
            : new AzureBlobCheckpointStore(options, logging);
    }
}

/// <summary>Validates named <see cref="AzureBlobStoreOptions"/> at start-up; failures name the configuration key.</summary>
internal sealed class AzureBlobStoreOptionsValidator(string name, string path) : IValidateOptions<AzureBlobStoreOptions>
{
    public ValidateOptionsResult Validate(string? optionsName, AzureBlobStoreOptions options)
    {
        if (!string.Equals(optionsName ?? Options.DefaultName, name, StringComparison.Ordinal)) return ValidateOptionsResult.Skip;
        try
        {
            // The container may come from the location URI instead; everything else is checked here.
            (string.IsNullOrWhiteSpace(options.ContainerName) ? options.At("placeholder", options.Prefix) : options).Validate();
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException ex)
        {
            return ValidateOptionsResult.Fail($"{path}:{ex.ParamName} {LocationRedaction.Redact(ex.Message.Split(" (Parameter", 2)[0])}");
        }
    }
}
