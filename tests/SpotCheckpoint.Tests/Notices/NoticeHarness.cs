using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SpotCheckpoint.Notices;

namespace SpotCheckpoint.Tests.Notices;

/// <summary>Runs notice sources in a hub, as a checkpointer would, and records what they raise and log.</summary>
internal sealed class NoticeHarness : IAsyncDisposable
{
    public NoticeHarness(params INoticeSource[] sources) : this(TimeSpan.FromSeconds(5), sources) { }

    public NoticeHarness(TimeSpan safetyMargin, params INoticeSource[] sources)
    {
        var options = new NoticeOptions { SafetyMargin = safetyMargin };
        foreach (var s in sources) options.UseSource(s);
        Hub = new NoticeHub(options, Log, TimeProvider.System);
        Hub.NoticeReceived += n => Received.Enqueue(n);
        Hub.Start();
    }

    public NoticeHub Hub { get; }

    public ListLogger Log { get; } = new();

    public ConcurrentQueue<TerminationNotice> Received { get; } = new();

    public async Task<TerminationNotice> WaitForNoticeAsync(Func<TerminationNotice, bool>? predicate = null, double timeoutSeconds = 20)
    {
        var until = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (true)
        {
            var found = Received.FirstOrDefault(n => predicate?.Invoke(n) ?? true);
            if (found is not null) return found;
            if (DateTime.UtcNow > until) throw new TimeoutException("no matching notice; log:\n" + string.Join("\n", Log.Messages));
            await Task.Delay(20);
        }
    }

    /// <summary>Waits for a log message containing <paramref name="text"/>.</summary>
    public async Task WaitForLogAsync(string text, double timeoutSeconds = 20)
    {
        var until = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (!Log.Messages.Any(m => m.Contains(text, StringComparison.Ordinal)))
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"no log line with '{text}'; log:\n" + string.Join("\n", Log.Messages));
            await Task.Delay(20);
        }
    }

    public ValueTask DisposeAsync() => Hub.DisposeAsync();
}

/// <summary>A logger that keeps every message.</summary>
internal sealed class ListLogger : ILogger<Checkpointer>
{
    public ConcurrentQueue<string> Messages { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Messages.Enqueue($"{logLevel}: {formatter(state, exception)}");
}
