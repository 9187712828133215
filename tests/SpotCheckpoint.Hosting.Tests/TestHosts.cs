using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SpotCheckpoint.Hosting.Tests;

/// <summary>Generic hosts configured from in-memory settings, with their log records captured.</summary>
internal static class TestHosts
{
    public static HostApplicationBuilder Builder(IDictionary<string, string?> settings, LogRecords? logs = null)
    {
        // DisableDefaults: no appsettings or environment variables of the test machine leak into the tests.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        if (logs is not null) builder.Logging.AddProvider(logs);
        return builder;
    }

    /// <summary>The settings every test starts from: a local store, no cloud notices.</summary>
    public static Dictionary<string, string?> Settings(string location, string runId = "hosted") => new()
    {
        ["SpotCheckpoint:Location"] = location,
        ["SpotCheckpoint:RunId"] = runId,
        ["SpotCheckpoint:Notices:Cloud"] = "None",
    };
}

/// <summary>An <see cref="ILoggerProvider"/> that keeps every record.</summary>
internal sealed class LogRecords : ILoggerProvider
{
    private readonly ConcurrentQueue<(string Category, LogLevel Level, EventId Id, string Message)> _records = new();

    public IReadOnlyList<(string Category, LogLevel Level, EventId Id, string Message)> All => _records.ToArray();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _records);

    public void Dispose() { }

    private sealed class Logger(string category, ConcurrentQueue<(string, LogLevel, EventId, string)> records) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            records.Enqueue((category, logLevel, eventId, formatter(state, exception)));
    }
}
