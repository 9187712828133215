using Microsoft.Extensions.Logging;

namespace SpotCheckpoint.Hosting;

/// <summary>Log messages of the hosting integration (event ids 300–319). No message carries credentials.</summary>
internal static partial class HostingLog
{
    [LoggerMessage(300, LogLevel.Information, "Checkpointing run {RunId} to {Store}; host shutdown is a termination notice: {HostShutdown}")]
    public static partial void Started(ILogger logger, string runId, string store, bool hostShutdown);

    [LoggerMessage(301, LogLevel.Warning, "Host is stopping: raising a termination notice ({TimeLeftSeconds:F0} s left) so the training loop takes an emergency checkpoint at its next step")]
    public static partial void HostStopping(ILogger logger, double timeLeftSeconds);

    [LoggerMessage(302, LogLevel.Information, "Waiting for the emergency checkpoint of run {RunId} to commit before the host stops")]
    public static partial void Waiting(ILogger logger, string runId);

    [LoggerMessage(303, LogLevel.Information, "Emergency checkpoint of run {RunId} at step {Step} committed; the host may stop")]
    public static partial void Committed(ILogger logger, string runId, long step);

    [LoggerMessage(304, LogLevel.Error, "The emergency checkpoint of run {RunId} failed; a resumed run starts from its last committed checkpoint")]
    public static partial void Failed(ILogger logger, string runId, Exception? exception);

    [LoggerMessage(305, LogLevel.Warning, "The host's shutdown timeout ran out before the emergency checkpoint of run {RunId} committed (training at step {Step}); raise HostOptions.ShutdownTimeout (ShutdownTimeoutSeconds)")]
    public static partial void TimedOut(ILogger logger, string runId, long step);

    [LoggerMessage(306, LogLevel.Debug, "Training of run {RunId} ended without an emergency checkpoint (at step {Step}); nothing to wait for")]
    public static partial void NothingToWaitFor(ILogger logger, string runId, long step);
}
