using Microsoft.Extensions.Logging;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Storage.AzureBlob;
using SpotCheckpoint.Storage.Gcs;
using SpotCheckpoint.Storage.S3;

namespace SpotCheckpoint.Samples;

/// <summary>What the sample trainers share about their console: logging, the object stores, and one-line errors.</summary>
internal static class SampleConsole
{
    /// <summary>Single-line console logs with a time stamp; warnings and errors only when <paramref name="quiet"/>.</summary>
    public static ILoggerFactory CreateLoggerFactory(bool quiet) => LoggerFactory.Create(b => b
        .AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "HH:mm:ss "; })
        .SetMinimumLevel(quiet ? LogLevel.Warning : LogLevel.Information));

    /// <summary>
    /// Object stores for s3://, gs://, az:// and https://&lt;account&gt;.blob.core.windows.net/… locations; endpoints
    /// and credentials come from the SDKs' standard environment variables.
    /// </summary>
    public static void RegisterStores(ILoggerFactory loggerFactory)
    {
        S3CheckpointStore.Register(loggerFactory: loggerFactory);
        GcsCheckpointStore.Register(loggerFactory: loggerFactory);
        AzureBlobCheckpointStore.Register(loggerFactory: loggerFactory);
    }

    /// <summary>The first line of <paramref name="ex"/>'s message without .NET's " (Parameter 'x')" suffix, with secrets redacted.</summary>
    public static string OneLine(Exception ex)
    {
        var message = ex.Message.Split('\n')[0].TrimEnd();
        int parameter = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        if (parameter >= 0) message = message[..parameter];
        return LocationRedaction.Redact(message);
    }
}
