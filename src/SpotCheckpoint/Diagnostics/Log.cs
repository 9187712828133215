using Microsoft.Extensions.Logging;

namespace SpotCheckpoint.Diagnostics;

/// <summary>The library's log messages (source-generated, allocation-free when disabled).</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Checkpoint of run {RunId} at step {Step} committed: {Bytes} bytes, stall {StallMs:F1} ms, persist {PersistMs:F1} ms to {Store}")]
    public static partial void Committed(ILogger logger, string runId, long step, long bytes, double stallMs, double persistMs, string store);

    // One line at Error, no stack trace (a periodic failure repeats); the exception with its trace is event 11 at Debug.
    [LoggerMessage(2, LogLevel.Error, "Checkpoint of run {RunId} at step {Step} failed and stays invisible; training goes on: {Reason}")]
    public static partial void PersistFailed(ILogger logger, string runId, long step, string reason);

    [LoggerMessage(3, LogLevel.Warning, "Checkpoint at step {Step} skipped: the previous checkpoint is still being persisted ({Reason})")]
    public static partial void Skipped(ILogger logger, long step, string reason);

    [LoggerMessage(4, LogLevel.Warning, "Checkpoint of run {RunId} at step {Step} is not usable, falling back to an older one: {Reason}")]
    public static partial void FallingBack(ILogger logger, string runId, long step, string reason);

    [LoggerMessage(5, LogLevel.Information, "Resumed run {RunId} from step {Step} ({Store})")]
    public static partial void Resumed(ILogger logger, string runId, long step, string store);

    [LoggerMessage(6, LogLevel.Information, "Run {RunId} has no checkpoint in {Store}; starting fresh")]
    public static partial void StartingFresh(ILogger logger, string runId, string store);

    [LoggerMessage(7, LogLevel.Warning, "Retention for run {RunId} failed; it will be retried after the next commit: {Reason}")]
    public static partial void RetentionFailed(ILogger logger, string runId, string reason);

    [LoggerMessage(8, LogLevel.Debug, "Staging buffers allocated: {Bytes} bytes in {Shards} shard buffer(s)")]
    public static partial void StagingAllocated(ILogger logger, long bytes, int shards);

    [LoggerMessage(10, LogLevel.Warning, "Removed the corrupt checkpoint of run {RunId} at step {Step}; the resumed run will write that step again")]
    public static partial void RemovedCorrupt(ILogger logger, string runId, long step);

    [LoggerMessage(9, LogLevel.Warning, "Pinned staging memory could not be allocated; CUDA state is staged through pageable memory from now on: {Reason}")]
    public static partial void PinnedStagingUnavailable(ILogger logger, string reason);

    [LoggerMessage(11, LogLevel.Debug, "Checkpoint of run {RunId} at step {Step} failed; the exception follows")]
    public static partial void PersistFailedDetail(ILogger logger, string runId, long step, Exception exception);

    [LoggerMessage(12, LogLevel.Warning, "Reading the checkpoint of run {RunId} at step {Step} failed (attempt {Attempt}); retrying: {Reason}")]
    public static partial void ReadRetried(ILogger logger, string runId, long step, int attempt, string reason);

    [LoggerMessage(13, LogLevel.Warning, "The {Callback} callback threw; the checkpoint is not affected")]
    public static partial void CallbackFailed(ILogger logger, string callback, Exception exception);

    [LoggerMessage(14, LogLevel.Warning, "Run {RunId}: background persists did not finish within {Seconds:F0} s of dispose; cancelling them (an unfinished checkpoint stays invisible)")]
    public static partial void DisposeTimedOut(ILogger logger, string runId, double seconds);
}
