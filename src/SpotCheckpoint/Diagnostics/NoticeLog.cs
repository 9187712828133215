using Microsoft.Extensions.Logging;

namespace SpotCheckpoint.Diagnostics;

/// <summary>Log messages of termination notices and emergency checkpoints (event ids 100–149).</summary>
internal static partial class NoticeLog
{
    [LoggerMessage(100, LogLevel.Information, "Watching for termination notices: {Sources}")]
    public static partial void Watching(ILogger logger, string sources);

    [LoggerMessage(101, LogLevel.Warning, "Termination notice from {Provider} ({Action}): the machine goes away in {SecondsLeft:F1} s (at {Deadline:O}); working to that minus a {MarginSeconds:F0} s safety margin")]
    public static partial void Termination(ILogger logger, string provider, string action, double secondsLeft, DateTimeOffset deadline, double marginSeconds);

    [LoggerMessage(102, LogLevel.Information, "Interruption risk signal from {Provider} ({Action}, at {Time:O}); no termination yet")]
    public static partial void Risk(ILogger logger, string provider, string action, DateTimeOffset time);

    [LoggerMessage(103, LogLevel.Information, "Platform event from {Provider}: {Action} (event {EventId}, not before {Time:O}); not a termination, training goes on")]
    public static partial void Informational(ILogger logger, string provider, string action, string eventId, DateTimeOffset time);

    [LoggerMessage(104, LogLevel.Error, "Notice source {Source} stopped with an error; other sources go on, training is not affected")]
    public static partial void SourceFailed(ILogger logger, string source, Exception exception);

    [LoggerMessage(105, LogLevel.Warning, "A NoticeReceived handler threw; ignored")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(106, LogLevel.Warning, "Notice source {Source} could not acknowledge {Notice}")]
    public static partial void AcknowledgeFailed(ILogger logger, string source, string notice, Exception exception);

    [LoggerMessage(107, LogLevel.Warning, "Termination notice from {Provider} ({Action}): the machine goes away in {SecondsLeft:F1} s (at {Deadline:O}); training goes on, the emergency checkpoint starts at {StartsAt:O} (the deadline minus a {MarginSeconds:F0} s safety margin and the time a checkpoint needs)")]
    public static partial void TerminationLater(ILogger logger, string provider, string action, double secondsLeft, DateTimeOffset deadline, DateTimeOffset startsAt, double marginSeconds);

    [LoggerMessage(108, LogLevel.Warning, "Termination notice from {Provider} ({Action}, {NoticeId}, deadline {Deadline:O}) was already handled by this run: its checkpoint is the one resumed from; not acting on it again")]
    public static partial void AlreadyHandled(ILogger logger, string provider, string action, string noticeId, DateTimeOffset deadline);

    [LoggerMessage(110, LogLevel.Warning, "Notice source {Source}: {Problem}; retrying in {DelaySeconds:F1} s")]
    public static partial void PollFailed(ILogger logger, string source, string problem, double delaySeconds);

    [LoggerMessage(111, LogLevel.Warning, "Notice source {Source} ignored a reply that is not a notice: {Problem}")]
    public static partial void Garbage(ILogger logger, string source, string problem);

    [LoggerMessage(112, LogLevel.Information, "Notice source {Source}: {Message}")]
    public static partial void SourceInfo(ILogger logger, string source, string message);

    [LoggerMessage(113, LogLevel.Debug, "Notice source {Source}: {Message}")]
    public static partial void SourceDebug(ILogger logger, string source, string message);

    [LoggerMessage(114, LogLevel.Warning, "Notice source {Source}: {Message}")]
    public static partial void SourceWarning(ILogger logger, string source, string message);

    [LoggerMessage(120, LogLevel.Warning, "Emergency checkpoint at step {Step}: {SecondsLeft:F1} s left to the deadline, a checkpoint takes {Estimate}; {Plan}")]
    public static partial void EmergencyPlanned(ILogger logger, long step, double secondsLeft, string estimate, string plan);

    [LoggerMessage(121, LogLevel.Warning, "The full state is not expected to fit before the deadline ({EstimateSeconds:F1} s needed, {SecondsLeft:F1} s left); {Fallback}")]
    public static partial void EmergencyMayNotFit(ILogger logger, double estimateSeconds, double secondsLeft, string fallback);

    [LoggerMessage(122, LogLevel.Warning, "Emergency checkpoint of run {RunId} at step {Step} committed {LatencyMs:F0} ms after the {Provider} notice, {SlackSeconds:F1} s before the deadline")]
    public static partial void EmergencyCommitted(ILogger logger, string runId, long step, double latencyMs, string provider, double slackSeconds);

    [LoggerMessage(123, LogLevel.Error, "Emergency checkpoint of run {RunId} committed {LatencyMs:F0} ms after the {Provider} notice, {LateSeconds:F1} s after the deadline")]
    public static partial void EmergencyLate(ILogger logger, string runId, double latencyMs, string provider, double lateSeconds);

    [LoggerMessage(124, LogLevel.Error, "Emergency checkpoint of run {RunId} failed; the newest earlier committed checkpoint (step {LastCommitted}) is what a resumed run gets")]
    public static partial void EmergencyFailed(ILogger logger, string runId, long lastCommitted, Exception? exception);

    [LoggerMessage(125, LogLevel.Information, "Checkpoint of run {RunId} at step {Step} superseded by the emergency checkpoint; its partial objects were removed")]
    public static partial void Superseded(ILogger logger, string runId, long step);

    [LoggerMessage(126, LogLevel.Information, "Told the provider the machine may go now (after the emergency checkpoint committed)")]
    public static partial void Acknowledged(ILogger logger);
}
