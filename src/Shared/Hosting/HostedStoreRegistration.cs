using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Hosting;

/// <summary>
/// What every provider's <c>Use…Store</c> does on the hosting builder: named options (bound from configuration when
/// given, then configured in code, validated at start-up with errors that name the configuration key) and the URI
/// schemes that open a store with them. Linked into each provider package, as the other shared store helpers are.
/// </summary>
internal static class HostedStoreRegistration
{
    /// <summary>
    /// Registers <typeparamref name="TOptions"/> under <paramref name="name"/> and the <paramref name="schemes"/> that
    /// open a store with them. <paramref name="validate"/> throws <see cref="ArgumentException"/> for a bad option;
    /// <paramref name="open"/> opens a store for a location URI with the configured options.
    /// </summary>
    public static ISpotCheckpointBuilder Register<TOptions>(ISpotCheckpointBuilder builder, string? name, IConfiguration? configuration,
        Action<TOptions>? configure, string defaultPath, IReadOnlyList<string> schemes, Action<TOptions> validate,
        Func<IServiceProvider, TOptions, Uri, ICheckpointStore> open) where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        var optionsName = name ?? Options.DefaultName;
        var options = builder.Services.AddOptions<TOptions>(optionsName);
        if (configuration is not null) options.Bind(configuration);
        if (configure is not null) options.Configure(configure);
        options.ValidateOnStart();
        var path = (configuration as IConfigurationSection)?.Path ?? defaultPath;
        builder.Services.AddSingleton<IValidateOptions<TOptions>>(new Validator<TOptions>(optionsName, path, validate));
        foreach (var scheme in schemes)
            builder.AddStoreScheme(scheme, (provider, uri) => open(provider, provider.GetRequiredService<IOptionsMonitor<TOptions>>().Get(optionsName), uri));
        return builder;
    }

    /// <summary>Validates the named options at start-up; a failure names the configuration key, with secrets redacted.</summary>
    private sealed class Validator<TOptions>(string name, string path, Action<TOptions> validate) : IValidateOptions<TOptions> where TOptions : class
    {
        public ValidateOptionsResult Validate(string? optionsName, TOptions options)
        {
            if (!string.Equals(optionsName ?? Options.DefaultName, name, StringComparison.Ordinal)) return ValidateOptionsResult.Skip;
            try
            {
                validate(options);
                return ValidateOptionsResult.Success;
            }
            catch (ArgumentException ex)
            {
                return ValidateOptionsResult.Fail($"{path}:{ex.ParamName} {LocationRedaction.Redact(ex.Message.Split(" (Parameter", 2)[0])}");
            }
        }
    }
}
