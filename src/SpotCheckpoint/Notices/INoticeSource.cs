using Microsoft.Extensions.Logging;

namespace SpotCheckpoint.Notices;

/// <summary>
/// Watches one provider for notices and hands them to the hub. Implement it to feed notices from anywhere (a
/// scheduler's API, a file, a message queue) and add it with <see cref="NoticeOptionsExtensions.UseSource"/>.
/// </summary>
public interface INoticeSource
{
    /// <summary>A short name for logs (<c>aws</c>, <c>signal</c>, …).</summary>
    string Name { get; }

    /// <summary>
    /// Watches until <paramref name="cancellationToken"/> is cancelled, calling <see cref="NoticeContext.Raise"/> for
    /// each notice. Called once, on the thread that starts the checkpointer: do set-up that must be in place at once
    /// (such as signal handlers) before the first await, and nothing slow. Must not throw for provider failures
    /// (unreachable, throttled, garbage): log them and retry with backoff. A failure here never stops training.
    /// </summary>
    Task RunAsync(NoticeContext context, CancellationToken cancellationToken);

    /// <summary>
    /// Called after the emergency checkpoint for <paramref name="notice"/> has committed, so the source can tell
    /// the provider it may proceed (Azure: approve the scheduled event). Returns true when it did. Default: nothing.
    /// </summary>
    ValueTask<bool> AcknowledgeAsync(TerminationNotice notice, CancellationToken cancellationToken) => ValueTask.FromResult(false);
}

/// <summary>What a <see cref="INoticeSource"/> gets to work with.</summary>
public sealed class NoticeContext
{
    private readonly NoticeHub _hub;

    internal NoticeContext(NoticeHub hub, ILogger logger, TimeProvider timeProvider)
    {
        _hub = hub;
        Logger = logger;
        TimeProvider = timeProvider;
    }

    /// <summary>The logger to report what the source sees and what fails.</summary>
    public ILogger Logger { get; }

    /// <summary>The clock: stamp <see cref="TerminationNotice.SeenAt"/> and wait with it.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>Hands a notice to the hub. Repeats of the same notice are ignored there.</summary>
    public void Raise(TerminationNotice notice) => _hub.Raise(notice);
}
