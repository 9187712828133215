using Microsoft.Extensions.Logging;
using SpotCheckpoint.Diagnostics;

namespace SpotCheckpoint.Notices;

/// <summary>
/// Fuses the notices of every source into one deadline: the earliest deadline of any termination notice, minus
/// the safety margin. <see cref="TerminationPending"/> is a single field read, cheap enough for every step.
/// Reach it through <see cref="Checkpointer.Notices"/>; raise notices of your own with <see cref="Raise"/> or
/// <see cref="RequestTermination"/>.
/// </summary>
public sealed partial class NoticeHub : IAsyncDisposable
{
    private readonly NoticeOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private readonly List<TerminationNotice> _history = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<TerminationNotice> _firstTermination = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task[] _running = Array.Empty<Task>();
    private volatile bool _terminationPending;
    private volatile bool _due;
    private bool _immediate;
    private TerminationNotice? _termination;
    private TerminationNotice? _latestRisk;
    private int _started;
    private long _startedAt;

    internal NoticeHub(NoticeOptions options, ILogger logger, TimeProvider timeProvider)
    {
        _options = options;
        _logger = logger;
        _time = timeProvider;
        _startedAt = timeProvider.GetTimestamp();
    }

    /// <summary>
    /// How long the next checkpoint is expected to take (the checkpointer's measured stall + persist, padded), or
    /// null when unknown. The emergency checkpoint of a long notice starts at least this long before the deadline.
    /// </summary>
    internal Func<TimeSpan?>? CheckpointDurationEstimate { get; set; }

    /// <summary>The sources being watched.</summary>
    public IReadOnlyList<INoticeSource> Sources => (IReadOnlyList<INoticeSource>)_options.Sources;

    /// <summary>Subtracted from every provider deadline.</summary>
    public TimeSpan SafetyMargin => _options.SafetyMargin;

    /// <summary>
    /// True once a termination notice requires the emergency checkpoint to start (at <see cref="EmergencyStartsAt"/>):
    /// at once for a short notice, later for one that leaves more time than a checkpoint needs, so training goes on
    /// meanwhile. One volatile read while no termination notice is known.
    /// </summary>
    public bool TerminationPending => _terminationPending && (_due || CheckDue());

    /// <summary>
    /// When the emergency checkpoint starts: the deadline minus <see cref="SafetyMargin"/> minus
    /// <see cref="NoticeOptions.EmergencyLeadTime"/> (or the expected checkpoint time when that is longer); at once for
    /// a termination asked for with <see cref="RequestTermination"/>. Null without a termination notice.
    /// </summary>
    public DateTimeOffset? EmergencyStartsAt
    {
        get
        {
            var estimate = Estimate();
            lock (_gate) return _termination is null ? null : StartsAt(estimate);
        }
    }

    /// <summary>The termination notice with the earliest deadline, or null.</summary>
    public TerminationNotice? Termination { get { lock (_gate) return _termination; } }

    /// <summary>The deadline to work to: the earliest termination deadline minus <see cref="SafetyMargin"/>; null without a notice.</summary>
    public DateTimeOffset? Deadline { get { lock (_gate) return _termination?.Deadline - _options.SafetyMargin; } }

    /// <summary>The most recent risk signal (such as an AWS rebalance recommendation), or null.</summary>
    public TerminationNotice? LatestRisk { get { lock (_gate) return _latestRisk; } }

    /// <summary>Every distinct notice received, in order.</summary>
    public IReadOnlyList<TerminationNotice> History { get { lock (_gate) return _history.ToArray(); } }

    /// <summary>Completes with the first termination notice, when it arrives (which can be well before <see cref="TerminationPending"/>).</summary>
    public Task<TerminationNotice> FirstTermination => _firstTermination.Task;

    /// <summary>Raised (on the source's thread) for each distinct notice. Handlers must be quick and must not throw.</summary>
    public event Action<TerminationNotice>? NoticeReceived;

    /// <summary>
    /// Takes a notice from any source. A repeat of a notice already seen (same provider, kind and event id or
    /// action) is ignored; a termination notice with an earlier deadline than the current one moves the deadline
    /// earlier, never later.
    /// </summary>
    public void Raise(TerminationNotice notice)
    {
        ArgumentNullException.ThrowIfNull(notice);
        bool first = false;
        bool alreadyHandled = false;
        lock (_gate)
        {
            if (!_seen.Add(notice.DedupeKey)) return;
            if (notice.Kind == NoticeKind.Termination && _marked.Contains(notice.Id) &&
                _time.GetElapsedTime(Interlocked.Read(ref _startedAt)) <= HandledNoticeRecognitionWindow)
            {
                alreadyHandled = true;
                AddHandled(notice.Id); // still standing: the next checkpoint records it again
            }
        }
        if (alreadyHandled)
        {
            // The last checkpoint of this run was taken for this very notice; acting again would only restart the
            // process into another exit, over and over while the notice stands.
            NoticeLog.AlreadyHandled(_logger, notice.Provider, notice.Action, notice.Id, notice.Deadline);
            return;
        }
        lock (_gate)
        {
            _history.Add(notice);
            switch (notice.Kind)
            {
                case NoticeKind.Termination:
                    first = _termination is null;
                    if (_termination is null || notice.Deadline < _termination.Deadline) _termination = notice;
                    _immediate |= notice.Immediate;
                    if (_due) AddHandled(notice.Id);
                    break;
                case NoticeKind.Risk:
                    _latestRisk = notice;
                    break;
            }
        }
        var now = _time.GetUtcNow();
        var left = (notice.Deadline - now).TotalSeconds;
        switch (notice.Kind)
        {
            case NoticeKind.Termination:
                var startsAt = EmergencyStartsAt ?? now;
                if (startsAt > now && !_due)
                    NoticeLog.TerminationLater(_logger, notice.Provider, notice.Action, left, notice.Deadline, startsAt, _options.SafetyMargin.TotalSeconds);
                else
                    NoticeLog.Termination(_logger, notice.Provider, notice.Action, left, notice.Deadline, _options.SafetyMargin.TotalSeconds);
                break;
            case NoticeKind.Risk: NoticeLog.Risk(_logger, notice.Provider, notice.Action, notice.Deadline); break;
            default: NoticeLog.Informational(_logger, notice.Provider, notice.Action, notice.EventId ?? "-", notice.Deadline); break;
        }
        if (notice.Kind == NoticeKind.Termination) _terminationPending = true;
        if (first) _firstTermination.TrySetResult(notice);
        try { NoticeReceived?.Invoke(notice); }
        catch (Exception ex) { NoticeLog.HandlerFailed(_logger, ex); }
    }

    /// <summary>Raises a termination notice of your own: the machine goes away in <paramref name="timeLeft"/>.</summary>
    public void RequestTermination(string reason, TimeSpan timeLeft)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        var now = _time.GetUtcNow();
        Raise(new TerminationNotice(NoticeProviders.Custom, NoticeKind.Termination, reason, now + timeLeft, now) { Immediate = true });
    }

    private TimeSpan? Estimate()
    {
        try { return CheckpointDurationEstimate?.Invoke(); }
        catch (Exception ex) when (ex is not OutOfMemoryException) { return null; } // an estimate is advice; never let it stop a step
    }

    /// <summary>Under the lock, with a termination notice known.</summary>
    private DateTimeOffset StartsAt(TimeSpan? estimate)
    {
        if (_immediate) return DateTimeOffset.MinValue;
        var lead = estimate is { } e && e > _options.EmergencyLeadTime ? e : _options.EmergencyLeadTime;
        return _termination!.Deadline - _options.SafetyMargin - lead;
    }

    /// <summary>The slow path of <see cref="TerminationPending"/>: a termination notice is known; is its emergency checkpoint due?</summary>
    private bool CheckDue()
    {
        var estimate = Estimate();
        lock (_gate)
        {
            if (_due) return true;
            if (_time.GetUtcNow() < StartsAt(estimate)) return false;
            _due = true;
            // The emergency checkpoint that starts now answers every termination notice known.
            foreach (var n in _history)
            {
                if (n.Kind == NoticeKind.Termination) AddHandled(n.Id);
            }
            return true;
        }
    }

    /// <summary>
    /// Starts watching every source now (once; later calls do nothing). A checkpointer starts them itself with its
    /// first <see cref="Checkpointer.ResumeAsync"/>, <see cref="Checkpointer.Step"/> or
    /// <see cref="Checkpointer.CheckpointAsync"/> call; call this to watch from an earlier moment, such as host
    /// start-up. Registration stays open. A source that throws is logged and ignored.
    /// </summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) return;
        Interlocked.Exchange(ref _startedAt, _time.GetTimestamp());
        var running = new List<Task>();
        foreach (var source in _options.Sources)
        {
            var context = new NoticeContext(this, _logger, _time);
            Task task;
            try { task = source.RunAsync(context, _stop.Token); }
            catch (Exception ex) { task = Task.FromException(ex); }
            running.Add(Observe(source, task));
        }
        _running = running.ToArray();
        if (_running.Length > 0) NoticeLog.Watching(_logger, string.Join(", ", _options.Sources.Select(s => s.Name)));
    }

    private async Task Observe(INoticeSource source, Task task)
    {
        try { await task.ConfigureAwait(false); }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested) { }
        catch (Exception ex) { NoticeLog.SourceFailed(_logger, source.Name, ex); }
    }

    /// <summary>Lets each source acknowledge the termination notices it raised (after the emergency checkpoint committed).</summary>
    internal async Task<bool> AcknowledgeAsync(CancellationToken cancellationToken)
    {
        TerminationNotice[] notices;
        lock (_gate) notices = _history.Where(n => n.Kind == NoticeKind.Termination).ToArray();
        bool any = false;
        foreach (var source in _options.Sources)
        {
            foreach (var notice in notices)
            {
                try { any |= await source.AcknowledgeAsync(notice, cancellationToken).ConfigureAwait(false); }
                catch (Exception ex) when (ex is not OperationCanceledException) { NoticeLog.AcknowledgeFailed(_logger, source.Name, notice.EventId ?? notice.Action, ex); }
            }
        }
        return any;
    }

    /// <summary>Stops every source and waits for them.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_running).ConfigureAwait(false);
        foreach (var source in _options.Sources)
        {
            if (source is IDisposable disposable) disposable.Dispose();
        }
        _stop.Dispose();
    }
}
