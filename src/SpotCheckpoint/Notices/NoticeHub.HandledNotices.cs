using SpotCheckpoint.Diagnostics;

namespace SpotCheckpoint.Notices;

// Handled notices: what a checkpoint records, and what a restarted run must not act on again (the restart loop).
public sealed partial class NoticeHub
{
    private readonly HashSet<string> _marked = new(StringComparer.Ordinal);
    private readonly List<string> _handled = new();

    /// <summary>
    /// A notice marked handled (<see cref="MarkHandled"/>) is recognised only this long after <see cref="Start"/>:
    /// a notice still standing from before a restart is read within seconds (Azure's first answer can take two
    /// minutes), while one that comes later is a new event even if a provider reuses its identity (GCP's ETag).
    /// </summary>
    internal static readonly TimeSpan HandledNoticeRecognitionWindow = TimeSpan.FromMinutes(15);

    /// <summary>How many handled notice ids <see cref="HandledNoticeIds"/> keeps (the most recent).</summary>
    internal const int MaxHandledIds = 16;

    /// <summary>
    /// The ids (<see cref="TerminationNotice.Id"/>) to record with a checkpoint written now, so that a restarted run
    /// can pass them to <see cref="MarkHandled"/>: the termination notices this process acted on (once the emergency
    /// checkpoint was due) and the notices marked handled that were still standing. The most recent 16.
    /// </summary>
    public IReadOnlyList<string> HandledNoticeIds { get { lock (_gate) return _handled.ToArray(); } }

    /// <summary>
    /// Tells the hub which notices this run already handled (<see cref="HandledNoticeIds"/> as recorded with the
    /// checkpoint it resumes from). A termination notice with one of these ids that is still standing when this
    /// process starts is logged and not acted on again: the checkpoint was already taken for it, and acting again
    /// would only restart the process into another exit while the notice stands. A notice with a different id is
    /// acted on as usual. Best called before <see cref="Start"/>; called after, it also takes back such a notice
    /// already received, unless its emergency checkpoint has started (<see cref="FirstTermination"/> and
    /// <see cref="NoticeReceived"/> have fired for it then).
    /// </summary>
    public void MarkHandled(IEnumerable<string> noticeIds)
    {
        ArgumentNullException.ThrowIfNull(noticeIds);
        List<TerminationNotice> takenBack;
        lock (_gate)
        {
            foreach (var id in noticeIds)
            {
                if (!string.IsNullOrWhiteSpace(id)) _marked.Add(id);
            }
            if (_due || _time.GetElapsedTime(Interlocked.Read(ref _startedAt)) > HandledNoticeRecognitionWindow) return;
            takenBack = _history.Where(n => n.Kind == NoticeKind.Termination && !n.Immediate && _marked.Contains(n.Id)).ToList();
            if (takenBack.Count == 0) return;
            foreach (var n in takenBack)
            {
                _history.Remove(n);
                AddHandled(n.Id);
            }
            var remaining = _history.Where(n => n.Kind == NoticeKind.Termination).ToList();
            _termination = remaining.Count == 0 ? null : remaining.MinBy(n => n.Deadline);
            _terminationPending = _termination is not null;
        }
        foreach (var n in takenBack) NoticeLog.AlreadyHandled(_logger, n.Provider, n.Action, n.Id, n.Deadline);
    }

    /// <summary>Under the lock.</summary>
    private void AddHandled(string id)
    {
        _handled.Remove(id);
        _handled.Add(id);
        if (_handled.Count > MaxHandledIds) _handled.RemoveAt(0);
    }
}
