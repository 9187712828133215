using Amazon;
using Amazon.Runtime;
using Amazon.S3;

namespace SpotCheckpoint.Storage.S3;

/// <summary>Builds the SDK client from <see cref="S3StoreOptions"/>, following the AWS SDK's environment variables.</summary>
internal static class S3ClientFactory
{
    public static AmazonS3Client Create(S3StoreOptions options)
    {
        var endpoint = options.ServiceUrl ?? ConfiguredEndpoint();
        var region = options.Region ?? Environment.GetEnvironmentVariable("AWS_REGION") ?? Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION");
        var config = new AmazonS3Config
        {
            RetryMode = RequestRetryMode.Standard,
            MaxErrorRetry = options.MaxRetries,
            Timeout = options.RequestTimeout,
        };
        if (endpoint is not null)
        {
            config.ServiceURL = endpoint;
            // A custom endpoint never needs the region chain (which could probe instance metadata).
            config.AuthenticationRegion = region ?? "us-east-1";
            config.ForcePathStyle = options.ForcePathStyle ?? true;
        }
        else
        {
            if (region is not null) config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
            config.ForcePathStyle = options.ForcePathStyle ?? false;
        }
        options.ConfigureClient?.Invoke(config);
        return options.Credentials is null ? new AmazonS3Client(config) : new AmazonS3Client(options.Credentials, config);
    }

    /// <summary>The endpoint the AWS SDK would take from the environment for S3, if any.</summary>
    public static string? ConfiguredEndpoint()
    {
        if (string.Equals(Environment.GetEnvironmentVariable("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true", StringComparison.OrdinalIgnoreCase))
            return null;
        var value = Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_S3");
        if (string.IsNullOrWhiteSpace(value)) value = Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL");
        return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
    }

    /// <summary>True for failures worth another attempt after the SDK's own retries.</summary>
    public static bool IsTransient(Exception ex) => ex switch
    {
        AmazonServiceException { StatusCode: System.Net.HttpStatusCode.TooManyRequests or System.Net.HttpStatusCode.RequestTimeout } => true,
        AmazonServiceException service when (int)service.StatusCode >= 500 => true,
        AmazonServiceException { ErrorCode: "SlowDown" or "RequestTimeout" or "InternalError" or "ConditionalRequestConflict" } => true,
        AmazonServiceException => false,
        _ => StoreOperation.IsNetworkFailure(ex) || ex is AmazonClientException,
    };
}
