using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace SpotCheckpoint.Hosting;

/// <summary>
/// Starts notice polling with the host, turns <see cref="IHostApplicationLifetime.ApplicationStopping"/> into a
/// termination notice, and holds the host's shutdown until the emergency checkpoint that notice causes has
/// committed — or until the training loop ended without one, or the host's shutdown timeout ran out.
/// </summary>
internal sealed class SpotCheckpointHostedService : IHostedService
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    private readonly IServiceProvider _services;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly NoticeSettings _notices;
    private readonly TimeSpan _shutdownTimeLeft;
    private readonly ILogger _logger;
    private Checkpointer? _checkpointer;
    private CancellationTokenRegistration _stopping;

    public SpotCheckpointHostedService(IServiceProvider services, IHostApplicationLifetime lifetime, IOptions<SpotCheckpointOptions> options, IOptions<HostOptions> hostOptions, ILogger<SpotCheckpointHostedService>? logger = null)
    {
        _services = services;
        _lifetime = lifetime;
        _notices = options.Value.Notices;
        // The host waits at most its ShutdownTimeout for the hosted services to stop: that is the time really left.
        _shutdownTimeLeft = ShutdownWindow.Of(_notices.HostShutdownTimeLeft ?? hostOptions.Value.ShutdownTimeout);
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var checkpointer = _checkpointer = _services.GetRequiredService<Checkpointer>();
        checkpointer.Notices.Start();
        if (_notices.HostShutdown) _stopping = _lifetime.ApplicationStopping.Register(OnStopping);
        HostingLog.Started(_logger, checkpointer.RunId, checkpointer.Store.Description, _notices.HostShutdown);
        return Task.CompletedTask;
    }

    private void OnStopping()
    {
        HostingLog.HostStopping(_logger, _shutdownTimeLeft.TotalSeconds);
        _checkpointer!.Notices.RequestTermination("host shutdown", _shutdownTimeLeft);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.DisposeAsync().ConfigureAwait(false);
        if (_checkpointer is not { } checkpointer || !checkpointer.Notices.TerminationPending) return;

        // The training loops: the host's BackgroundServices that hold this checkpointer and still run. Others (a
        // metrics pusher, a queue listener) stop only after this service, so waiting for them would wait out the
        // whole ShutdownTimeout.
        var training = _services.GetServices<IHostedService>().OfType<BackgroundService>()
            .Where(s => TrainingLoops.Holds(s, checkpointer))
            .Select(s => s.ExecuteTask).OfType<Task>().Where(t => !t.IsCompleted).ToArray();
        var trainingDone = Task.WhenAll(training);
        bool logged = false;
        try
        {
            while (true)
            {
                if (checkpointer.EmergencyCheckpoint is { } emergency)
                {
                    if (!emergency.IsCompleted && !logged) HostingLog.Waiting(_logger, checkpointer.RunId);
                    var result = await emergency.WaitAsync(cancellationToken).ConfigureAwait(false);
                    if (result.Committed) HostingLog.Committed(_logger, checkpointer.RunId, result.Checkpoint!.Step);
                    else HostingLog.Failed(_logger, checkpointer.RunId, result.Error);
                    return;
                }
                if (trainingDone.IsCompleted)
                {
                    // The loop may have taken the emergency checkpoint just before it ended.
                    if (checkpointer.EmergencyCheckpoint is not null) continue;
                    HostingLog.NothingToWaitFor(_logger, checkpointer.RunId, checkpointer.CurrentStep);
                    return;
                }
                if (!logged)
                {
                    HostingLog.Waiting(_logger, checkpointer.RunId);
                    logged = true;
                }
                await Task.WhenAny(trainingDone, Task.Delay(PollInterval, cancellationToken)).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            HostingLog.TimedOut(_logger, checkpointer.RunId, checkpointer.CurrentStep);
        }
    }
}

/// <summary>The time a host-shutdown notice announces, from the host's ShutdownTimeout.</summary>
internal static class ShutdownWindow
{
    /// <summary>The longest window announced: a host that waits longer (or forever) is given a deadline a day away.</summary>
    public static readonly TimeSpan Longest = TimeSpan.FromDays(1);

    /// <summary>
    /// <paramref name="timeout"/>, except that <see cref="Timeout.InfiniteTimeSpan"/>, negative values and anything
    /// over <see cref="Longest"/> (<see cref="TimeSpan.MaxValue"/> would overflow the deadline) become
    /// <see cref="Longest"/>: the host waits for the checkpoint however long it takes, and the deadline is never in the past.
    /// </summary>
    public static TimeSpan Of(TimeSpan timeout) => timeout < TimeSpan.Zero || timeout > Longest ? Longest : timeout;
}

/// <summary>Which BackgroundServices are training loops: those holding the checkpointer (injected into them).</summary>
internal static class TrainingLoops
{
    public static bool Holds(BackgroundService service, Checkpointer checkpointer)
    {
        for (var type = service.GetType(); type is not null && type != typeof(BackgroundService); type = type.BaseType)
        {
            foreach (var field in type.GetFields(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public |
                                                 System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.DeclaredOnly))
            {
                if (typeof(Checkpointer).IsAssignableFrom(field.FieldType) && ReferenceEquals(field.GetValue(service), checkpointer)) return true;
            }
        }
        return false;
    }
}
