namespace SpotCheckpoint.Tests.Notices.Fakes;

/// <summary>
/// Lets a test wait for a condition that other threads make true, without sleeping: whoever changes what the
/// condition reads calls <see cref="Pulse"/>, and <see cref="WaitUntilAsync"/> re-checks at each pulse.
/// </summary>
internal sealed class ChangeSignal
{
    private readonly object _gate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Something changed: wake every waiter to re-check its condition.</summary>
    public void Pulse()
    {
        TaskCompletionSource fired;
        lock (_gate)
        {
            fired = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        fired.TrySetResult();
    }

    /// <summary>Waits until <paramref name="condition"/> holds; a <see cref="TimeoutException"/> with <paramref name="describe"/> after the timeout.</summary>
    public async Task WaitUntilAsync(Func<bool> condition, double timeoutSeconds, Func<string> describe)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        while (true)
        {
            Task changed;
            lock (_gate) changed = _changed.Task; // taken before the check, so a change in between is not missed
            if (condition()) return;
            try { await changed.WaitAsync(timeout.Token); }
            catch (OperationCanceledException) { throw new TimeoutException(describe()); }
        }
    }
}
