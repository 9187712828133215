using Microsoft.Extensions.Logging;

namespace SpotCheckpoint.Storage;

/// <summary>The object stores' log messages. Never logs credentials, connection strings or signed URLs.</summary>
internal static partial class StoreLog
{
    [LoggerMessage(101, LogLevel.Debug, "Uploaded {Key} to {Store}: {Bytes} bytes in {Parts} part(s), size and checksum verified")]
    public static partial void Uploaded(ILogger logger, string key, string store, long bytes, int parts);

    [LoggerMessage(102, LogLevel.Warning, "Aborting the incomplete upload of {Key} to {Store} failed; retention removes it later")]
    public static partial void AbortFailed(ILogger logger, string key, string store, Exception exception);

    [LoggerMessage(103, LogLevel.Information, "Removed {Count} incomplete upload(s) under {Prefix} in {Store}")]
    public static partial void CleanedUp(ILogger logger, int count, string prefix, string store);

    [LoggerMessage(104, LogLevel.Warning, "Commit of {Key} in {Store} lost to another writer")]
    public static partial void CommitConflict(ILogger logger, string key, string store);

    [LoggerMessage(105, LogLevel.Error, "Verification of {Key} in {Store} failed after upload: {Problem}")]
    public static partial void VerificationFailed(ILogger logger, string key, string store, string problem);

    [LoggerMessage(106, LogLevel.Warning, "{Store} cannot list incomplete uploads; uploads left by crashed writers stay until the store's own lifecycle rules remove them")]
    public static partial void CleanupUnsupported(ILogger logger, string store);
}
