using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Notices;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint;

// Start (location probe, notice sources), notices feeding the policy, the optimizer-step hook, and a bounded shutdown.
public sealed partial class Checkpointer
{
    private readonly SemaphoreSlim _startGate = new(1, 1);
    private volatile bool _started;

    private void EnsureRegistrationOpen()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_started) throw new InvalidOperationException("Register state before the first ResumeAsync, Step or CheckpointAsync call.");
    }

    /// <summary>
    /// The first ResumeAsync, Step or CheckpointAsync probes the location (a small object created and deleted under
    /// the run's prefix) so that an unwritable location fails in seconds, not at the end of training; then starts
    /// the notice sources.
    /// </summary>
    private async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_started) return;
        await _startGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_started) return;
            if (_options.ProbeLocation) await LocationProbe.ProbeAsync(_store, RunId, _options.ProbeTimeout, cancellationToken).ConfigureAwait(false);
            _started = true;
            _notices.Start();
        }
        finally
        {
            _startGate.Release();
        }
    }

    /// <summary>Feeds notices to the metrics and the policy: a risk signal tightens the schedule at once.</summary>
    private void OnNoticeReceived(TerminationNotice notice)
    {
        _persist.Metrics.RecordNotice(notice.Provider, notice.Kind.ToString().ToLowerInvariant());
        switch (notice.Kind)
        {
            case NoticeKind.Risk:
                _options.Policy.RaiseRisk();
                break;
            case NoticeKind.Termination:
                _options.Policy.RecordInterruption();
                // A long notice leaves training running until its emergency checkpoint is due: meanwhile the
                // schedule tightens as for a risk signal, so less is at stake if the machine goes early.
                if (_notices.EmergencyStartsAt > _time.GetUtcNow()) _options.Policy.RaiseRisk();
                break;
        }
    }

    /// <summary>
    /// With <see cref="CheckpointerOptions.CudaStagingMode"/> = <see cref="Staging.Cuda.CudaStagingMode.FenceOptimizerStep"/>,
    /// call before every <c>optimizer.step()</c>: the GPU waits there (not earlier) for a snapshot's copy still
    /// reading parameters or optimizer state. Does nothing in the other modes and for CPU state.
    /// </summary>
    public void BeforeOptimizerStep() => _snapshots.BeforeOptimizerStep();

    /// <summary>
    /// Waits for background persists and retention to finish, up to <see cref="CheckpointerOptions.DisposeTimeout"/>;
    /// then cancels what is left (an unfinished checkpoint stays invisible), frees staging memory and the store
    /// (when owned). Staging memory still read by a persist that ignores cancellation is left to it, never freed under it.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        using var bound = new CancellationTokenSource(_options.DisposeTimeout);
        try
        {
            if (_emergency is not null) await _emergency.WaitAsync(bound.Token).ConfigureAwait(false);
            await _notices.DisposeAsync().ConfigureAwait(false);
            await FlushAsync(bound.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            Log.DisposeTimedOut(_logger, RunId, _options.DisposeTimeout.TotalSeconds);
            _pool.CancelInFlight();
            await Task.WhenAny(Task.WhenAll(_pool.PendingPersists()), Task.Delay(DisposeGrace)).ConfigureAwait(false);
        }
        finally
        {
            await _persist.Retention.StopAsync(DisposeGrace).ConfigureAwait(false);
            _snapshots.DisposeCopiers(); // waits for any copy still running into an arena
            _pool.Dispose();
            if (_ownsStore) await _store.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>How long a cancelled persist or retention pass gets to stop at dispose.</summary>
    private static readonly TimeSpan DisposeGrace = TimeSpan.FromSeconds(5);
}
