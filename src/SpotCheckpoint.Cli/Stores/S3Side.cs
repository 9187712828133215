using System.CommandLine;
using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Storage.S3;

namespace SpotCheckpoint.Cli.Stores;

/// <summary>
/// One side of <c>copy</c> (<c>from</c> or <c>to</c>) with its own S3 endpoint, AWS profile and region, so that a run
/// can move between two S3-compatible services (or two accounts) although both sides would otherwise share one
/// environment. A profile is a named AWS profile in the shared config and credentials files (~/.aws/config,
/// ~/.aws/credentials, or the files AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE name): its keys, <c>region</c>,
/// <c>endpoint_url</c> and checksum settings apply to that side only. Secrets never go on the command line. With an
/// endpoint of its own, a side computes checksums only where S3 requires them unless its profile says otherwise.
/// </summary>
internal sealed class S3Side
{
    private readonly string _side;

    public S3Side(string side)
    {
        _side = side;
        Endpoint = new Option<string?>($"--{side}-endpoint") { Description = $"S3-compatible endpoint URL for the {side} side (s3:// only), such as http://127.0.0.1:9000" };
        Profile = new Option<string?>($"--{side}-profile") { Description = $"AWS profile for the {side} side (s3:// only): its keys, region, endpoint_url and checksum settings" };
        Region = new Option<string?>($"--{side}-region") { Description = $"AWS region for the {side} side (s3:// only)" };
    }

    public Option<string?> Endpoint { get; }

    public Option<string?> Profile { get; }

    public Option<string?> Region { get; }

    public IEnumerable<Option> Options => [Endpoint, Profile, Region];

    /// <summary>
    /// Opens <paramref name="location"/>: with none of this side's options, as every verb does; with one, as an S3
    /// store built from them. Throws <see cref="ArgumentException"/> (exit code 2) for options that do not fit.
    /// </summary>
    public ICheckpointStore Open(ParseResult parse, string location, bool mustExist, string shownAs)
    {
        string? endpoint = parse.GetValue(Endpoint), profile = parse.GetValue(Profile), region = parse.GetValue(Region);
        if (endpoint is null && profile is null && region is null)
            return mustExist ? StoreOpener.OpenExisting(location, shownAs) : StoreOpener.Open(location);
        if (!location.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--{_side}-endpoint, --{_side}-profile and --{_side}-region apply to s3:// locations; '{LocationRedaction.Redact(shownAs)}' is not one.");
        if (endpoint is not null && !(Uri.TryCreate(endpoint, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"))
            throw new ArgumentException($"--{_side}-endpoint needs an http:// or https:// URL, not '{LocationRedaction.Redact(endpoint)}'.");

        var options = S3StoreOptions.FromUri(new Uri(location));
        var (request, response) = profile is not null ? ApplyProfile(options, profile) : (null, null);
        if (endpoint is not null) options.ServiceUrl = endpoint;
        if (region is not null) options.Region = region;
        // A service of its own (not AWS) often refuses the SDK's streamed trailing checksums: checksums only where
        // the operation requires one (the store still sends each part's Content-MD5), unless the profile says otherwise.
        if (options.ServiceUrl is not null)
        {
            request ??= RequestChecksumCalculation.WHEN_REQUIRED;
            response ??= ResponseChecksumValidation.WHEN_REQUIRED;
        }
        if (request is not null || response is not null)
        {
            options.ConfigureClient = config =>
            {
                if (request is { } r) config.RequestChecksumCalculation = r;
                if (response is { } v) config.ResponseChecksumValidation = v;
            };
        }
        return new S3CheckpointStore(options);
    }

    private (RequestChecksumCalculation?, ResponseChecksumValidation?) ApplyProfile(S3StoreOptions options, string name)
    {
        // The SDK's default chain finds ~/.aws; AWS_SHARED_CREDENTIALS_FILE is honoured explicitly (the chain reads
        // it only through AWSConfigs, set once per process).
        var file = Environment.GetEnvironmentVariable("AWS_SHARED_CREDENTIALS_FILE");
        var profiles = string.IsNullOrWhiteSpace(file) ? new CredentialProfileStoreChain() : new CredentialProfileStoreChain(file);
        if (!profiles.TryGetProfile(name, out var profile))
            throw new ArgumentException($"--{_side}-profile: there is no AWS profile '{name}' in the shared config or credentials file.");
        if (!profiles.TryGetAWSCredentials(name, out var credentials))
            throw new ArgumentException($"--{_side}-profile: the AWS profile '{name}' holds no usable credentials.");
        options.Credentials = credentials;
        if (profile.Region is { } region) options.Region = region.SystemName;
        if (!string.IsNullOrWhiteSpace(profile.EndpointUrl)) options.ServiceUrl = profile.EndpointUrl;
        return (profile.RequestChecksumCalculation, profile.ResponseChecksumValidation);
    }
}
