using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SpotCheckpoint.Notices;
using SpotCheckpoint.Tests.Notices.Fakes;

namespace SpotCheckpoint.Tests.Notices;

/// <summary>Runs notice sources in a hub, as a checkpointer would, and records what they raise and log.</summary>
internal sealed class NoticeHarness : IAsyncDisposable
{
    private readonly ChangeSignal _changed = new();

    public NoticeHarness(params INoticeSource[] sources) : this(TimeSpan.FromSeconds(5), sources) { }

    public NoticeHarness(TimeSpan safetyMargin, params INoticeSource[] sources) : this(safetyMargin, null, null, sources) { }

    /// <param name="safetyMargin">The hub's safety margin.</param>
    /// <param name="time">The clock (a fake one to drive waits); the system clock when null.</param>
    /// <param name="beforeStart">Called with the hub before its sources start (to tell it what this run already handled).</param>
    /// <param name="sources">The sources to run.</param>
    public NoticeHarness(TimeSpan safetyMargin, TimeProvider? time, Action<NoticeHub>? beforeStart, params INoticeSource[] sources)
    {
        var options = new NoticeOptions { SafetyMargin = safetyMargin };
        foreach (var s in sources) options.UseSource(s);
        Log.Logged += _changed.Pulse;
        Hub = new NoticeHub(options, Log, time ?? TimeProvider.System);
        Hub.NoticeReceived += n =>
        {
            Received.Enqueue(n);
            _changed.Pulse();
        };
        beforeStart?.Invoke(Hub);
        Hub.Start();
    }

    public NoticeHub Hub { get; }

    public ListLogger Log { get; } = new();

    public ConcurrentQueue<TerminationNotice> Received { get; } = new();

    public async Task<TerminationNotice> WaitForNoticeAsync(Func<TerminationNotice, bool>? predicate = null, double timeoutSeconds = 20)
    {
        TerminationNotice? found = null;
        await _changed.WaitUntilAsync(() => (found = Received.FirstOrDefault(n => predicate?.Invoke(n) ?? true)) is not null,
            timeoutSeconds, () => "no matching notice; log:\n" + string.Join("\n", Log.Messages));
        return found!;
    }

    /// <summary>Waits for <paramref name="count"/> log messages containing <paramref name="text"/>.</summary>
    public Task WaitForLogAsync(string text, double timeoutSeconds = 20, int count = 1) =>
        _changed.WaitUntilAsync(() => Log.Messages.Count(m => m.Contains(text, StringComparison.Ordinal)) >= count,
            timeoutSeconds, () => $"no {count} log line(s) with '{text}'; log:\n" + string.Join("\n", Log.Messages));

    public ValueTask DisposeAsync() => Hub.DisposeAsync();
}

/// <summary>A logger that keeps every message.</summary>
internal sealed class ListLogger : ILogger<Checkpointer>
{
    public ConcurrentQueue<string> Messages { get; } = new();

    /// <summary>Raised after each message is kept.</summary>
    public event Action? Logged;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        Messages.Enqueue($"{logLevel}: {formatter(state, exception)}");
        Logged?.Invoke();
    }
}
