using System.Runtime.InteropServices;

namespace SpotCheckpoint.Notices.Signals;

/// <summary>
/// Turns SIGTERM/SIGINT into a termination notice. The signal's default action (ending the process) is cancelled,
/// so the process lives on to commit the emergency checkpoint and exit by itself.
/// </summary>
internal sealed class SignalNoticeSource : INoticeSource, IDisposable
{
    private readonly SignalNoticeOptions _options;
    private readonly List<PosixSignalRegistration> _registrations = new();
    private NoticeContext? _context;
    private int _received;

    public SignalNoticeSource(SignalNoticeOptions options)
    {
        if (options.GracePeriod <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(options), "GracePeriod must be positive.");
        _options = options;
    }

    public string Name => NoticeProviders.Signal;

    public async Task RunAsync(NoticeContext context, CancellationToken cancellationToken)
    {
        _context = context;
        // Registered before the first await: by the time the checkpointer has started, a signal is a notice.
        foreach (var signal in _options.Signals.Distinct())
        {
            try { _registrations.Add(PosixSignalRegistration.Create(signal, OnSignal)); }
            catch (Exception ex) when (ex is PlatformNotSupportedException or IOException)
            {
                Diagnostics.NoticeLog.SourceInfo(context.Logger, Name, $"{signal} cannot be handled on this platform: {ex.Message}");
            }
        }
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Dispose();
        }
    }

    private void OnSignal(PosixSignalContext signal)
    {
        if (Interlocked.Increment(ref _received) > 1 && _options.SecondSignalTerminates)
        {
            signal.Cancel = false; // the second one ends the process as usual
            return;
        }
        signal.Cancel = true;
        var context = _context!;
        var seen = context.TimeProvider.GetUtcNow();
        context.Raise(new TerminationNotice(Name, NoticeKind.Termination, signal.Signal.ToString(), seen + _options.GracePeriod, seen));
    }

    public void Dispose()
    {
        lock (_registrations)
        {
            foreach (var r in _registrations) r.Dispose();
            _registrations.Clear();
        }
    }
}
