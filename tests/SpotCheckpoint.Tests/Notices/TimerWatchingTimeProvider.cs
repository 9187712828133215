using Microsoft.Extensions.Time.Testing;
using SpotCheckpoint.Tests.Notices.Fakes;

namespace SpotCheckpoint.Tests.Notices;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that tells the test when code under test starts waiting on it (creates a
/// timer), so the test advances the clock only once the wait is in place.
/// </summary>
internal sealed class TimerWatchingTimeProvider : FakeTimeProvider
{
    private readonly ChangeSignal _signal = new();
    private int _timers;

    public TimerWatchingTimeProvider() : base(new DateTimeOffset(2030, 1, 21, 8, 0, 0, TimeSpan.Zero)) { }

    private readonly System.Collections.Concurrent.ConcurrentQueue<TimeSpan> _dueTimes = new();

    /// <summary>Timers created so far.</summary>
    public int TimersCreated => Volatile.Read(ref _timers);

    /// <summary>The due time of each timer created, in order: how long the code under test chose to wait.</summary>
    public IReadOnlyList<TimeSpan> DueTimes => _dueTimes.ToArray();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        _dueTimes.Enqueue(dueTime);
        Interlocked.Increment(ref _timers);
        _signal.Pulse();
        return timer;
    }

    /// <summary>Waits until a timer with a due time matching <paramref name="due"/> was created.</summary>
    public Task WaitUntilTimerAsync(Func<TimeSpan, bool> due, double timeoutSeconds = 20) =>
        _signal.WaitUntilAsync(() => DueTimes.Any(due), timeoutSeconds, () => "no such timer; due times: " + string.Join(", ", DueTimes));

    /// <summary>Waits until more than <paramref name="seen"/> timers were created.</summary>
    public Task WaitForTimerAsync(int seen, double timeoutSeconds = 20) =>
        _signal.WaitUntilAsync(() => TimersCreated > seen, timeoutSeconds, () => $"no timer after the {seen} seen");
}
