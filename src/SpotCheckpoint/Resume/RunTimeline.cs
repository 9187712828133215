using SpotCheckpoint.Retention;

namespace SpotCheckpoint.Resume;

/// <summary>
/// The run's own timeline: the step resumed from, the newest step this run committed, and the checkpoints of an
/// abandoned timeline — committed checkpoints newer than the one resumed from that were skipped (they did not fit
/// the registered state or could not be read). The rule: abandoned checkpoints never count as the run's newest,
/// never block its commits (the run's commit of the same step replaces them), and are deleted by retention once the
/// run has committed a step at or past them.
/// </summary>
internal sealed class RunTimeline
{
    private readonly object _gate = new();
    private readonly SortedSet<long> _abandoned = new();
    private long _resumedStep = -1;
    private long _newestCommitted = -1;

    public long NewestCommitted
    {
        get { lock (_gate) return _newestCommitted; }
    }

    public IReadOnlyList<long> Abandoned
    {
        get { lock (_gate) return _abandoned.ToArray(); }
    }

    /// <summary>The manifest restored by the resume (its chunks were verified on the way in); null for a fresh start.</summary>
    public Format.CheckpointManifest? ResumedManifest { get; set; }

    public void Resumed(long step, IEnumerable<long> abandoned)
    {
        lock (_gate)
        {
            _resumedStep = step;
            _newestCommitted = Math.Max(_newestCommitted, step);
            foreach (var s in abandoned) _abandoned.Add(s);
        }
    }

    public void Committed(long step)
    {
        lock (_gate)
        {
            if (step > _newestCommitted) _newestCommitted = step;
            _abandoned.Remove(step); // the manifest at this step is ours now
        }
    }

    public bool IsAbandoned(long step)
    {
        lock (_gate) return _abandoned.Contains(step);
    }

    public void Forget(long step)
    {
        lock (_gate) _abandoned.Remove(step);
    }

    /// <summary>What retention must respect now.</summary>
    public RetentionScope Scope(IReadOnlyCollection<long> inFlight)
    {
        lock (_gate)
        {
            var protect = new HashSet<long>();
            if (_newestCommitted >= 0) protect.Add(_newestCommitted);
            // The step resumed from stays until the run has a newer commit of its own (then that one is protected).
            if (_resumedStep >= 0 && _newestCommitted <= _resumedStep) protect.Add(_resumedStep);
            return new RetentionScope(protect, inFlight.ToHashSet(), _abandoned.ToHashSet());
        }
    }
}
