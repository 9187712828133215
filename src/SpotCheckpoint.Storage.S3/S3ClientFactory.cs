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
            // One retry layer: the store's (MaxAttempts per call, see StoreOperation). SDK retries under it would
            // multiply the attempts and bypass the back-off during a SlowDown storm.
            RetryMode = RequestRetryMode.Standard,
            MaxErrorRetry = 0,
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

    /// <summary>
    /// What to set, for failures that no retry can fix (no credentials found, access denied, an unknown key or
    /// bucket); null for everything else.
    /// </summary>
    public static string? Unrecoverable(Exception ex) => ex switch
    {
        AmazonServiceException { StatusCode: System.Net.HttpStatusCode.Forbidden } or AmazonServiceException { ErrorCode: "AccessDenied" or "AllAccessDisabled" } =>
            "access denied: the credentials in use lack permission for the bucket (s3:GetObject, s3:PutObject, s3:DeleteObject, s3:ListBucket, s3:AbortMultipartUpload; kms:GenerateDataKey and kms:Decrypt for SSE-KMS)",
        AmazonServiceException { ErrorCode: "InvalidAccessKeyId" or "SignatureDoesNotMatch" or "ExpiredToken" or "InvalidToken" } service =>
            $"the credentials were refused ({service.ErrorCode}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or the profile in use",
        AmazonServiceException { ErrorCode: "NoSuchBucket" } => "the bucket does not exist: check the bucket name, AWS_REGION and the endpoint",
        AmazonClientException client when IsNoCredentials(client) =>
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE), an instance role, or S3StoreOptions.Credentials",
        _ => null,
    };

    private static bool IsNoCredentials(Exception ex) =>
        ex.Message.Contains("credentials", StringComparison.OrdinalIgnoreCase) &&
        (ex.Message.Contains("resolve", StringComparison.OrdinalIgnoreCase) || ex.Message.Contains("unable", StringComparison.OrdinalIgnoreCase) ||
         ex.Message.Contains("no ", StringComparison.OrdinalIgnoreCase) || ex.Message.Contains("failed", StringComparison.OrdinalIgnoreCase));

    /// <summary>True for failures worth another attempt.</summary>
    public static bool IsTransient(Exception ex) => Unrecoverable(ex) is null && ex switch
    {
        AmazonServiceException { StatusCode: System.Net.HttpStatusCode.TooManyRequests or System.Net.HttpStatusCode.RequestTimeout } => true,
        // 501: the store lacks the operation (S3-compatible stores); asking again cannot help.
        AmazonServiceException { StatusCode: System.Net.HttpStatusCode.NotImplemented } => false,
        AmazonServiceException service when (int)service.StatusCode >= 500 => true,
        AmazonServiceException { ErrorCode: "SlowDown" or "RequestTimeout" or "InternalError" or "ConditionalRequestConflict" } => true,
        AmazonServiceException => false,
        _ => StoreOperation.IsNetworkFailure(ex) || ex is AmazonClientException,
    };
}
