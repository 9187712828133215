namespace SpotCheckpoint.Scheduling.Simulation;

// The event loop of one simulated run.
public static partial class CheckpointSimulator
{
    /// <summary>One run of one policy: steps on a simulated clock, periodic checkpoints, notices, interruptions, restarts.</summary>
    private sealed class Job(SimulationOptions o, CheckpointPolicy policy, SimulationClock clock, double[] kills, bool[] noticed, double horizon, Totals totals)
    {
        private readonly double _step = o.StepDuration.TotalSeconds;
        private readonly double _stall = o.Stall.TotalSeconds;
        private readonly double _persist = o.Persist.TotalSeconds;
        private readonly double _speedWhilePersisting = 1 - o.PersistCostFraction;
        private readonly double _restart = o.Restart.TotalSeconds;
        private readonly double _lead = o.NoticeLead.TotalSeconds;

        private double _t;
        private long _progress;
        private long _committed;
        private bool _anyCommitted;
        private long _lastCheckpointStep = -1;
        private double _lastCheckpointTime;
        private bool _lastCheckpointInAttempt;
        private bool _pending;
        private long _pendingStep;
        private double _pendingCommitAt;
        private double _pendingIdle;
        private int _next;
        private bool _noticeHandled;

        private double Kill => _next < kills.Length ? kills[_next] : double.PositiveInfinity;

        private double NoticeAt => _next < kills.Length && noticed[_next] && !_noticeHandled ? kills[_next] - _lead : double.PositiveInfinity;

        public void Run()
        {
            while (_t < horizon)
            {
                double stepEnd = _t + StepWallTime();
                if (NoticeAt < stepEnd) { OnNotice(); continue; }
                if (Kill < stepEnd) { Interrupt(partial: Kill - _t); continue; }
                _t = stepEnd;
                _progress++;
                CompletePersist();
                clock.Set(_t);
                if (policy.IsDue(_progress, _lastCheckpointStep, TimeSpan.FromSeconds(_t - _lastCheckpointTime)))
                    Checkpoint();
            }
            totals.Wall += _t;
            totals.Wasted += _t - _progress * _step;
        }

        private void Checkpoint()
        {
            double start = _t;
            try
            {
                // One staging buffer: a checkpoint due while the previous one persists waits for it.
                if (_pending && _pendingCommitAt > _t)
                {
                    _pendingIdle += _pendingCommitAt - _t; // training waits: no slowdown meanwhile
                    if (!Advance(_pendingCommitAt - _t)) return;
                    CompletePersist();
                }
                if (!Advance(_stall)) return; // interrupted mid-snapshot: nothing was taken
                if (_lastCheckpointInAttempt)
                {
                    totals.IntervalSum += start - _lastCheckpointTime;
                    totals.IntervalCount++;
                }
                _lastCheckpointStep = _progress;
                _lastCheckpointTime = _t;
                _lastCheckpointInAttempt = true;
                _pending = true;
                _pendingStep = _progress;
                _pendingCommitAt = _t + _persist;
                _pendingIdle = 0;
                totals.Checkpoints++;
            }
            finally
            {
                totals.Checkpoint += _t - start;
            }
        }

        /// <summary>
        /// The wall time of the next step: training runs at 1 − s of its speed while a persist is in flight
        /// (<see cref="SimulationOptions.PersistCostFraction"/>), at full speed once it committed.
        /// </summary>
        private double StepWallTime()
        {
            if (!_pending || _pendingCommitAt <= _t) return _step;
            double busy = _pendingCommitAt - _t;
            double computedWhileBusy = busy * _speedWhilePersisting;
            return computedWhileBusy >= _step ? _step / _speedWhilePersisting : busy + (_step - computedWhileBusy);
        }

        /// <summary>Moves the clock on by <paramref name="duration"/>, or only to the next notice or interruption.</summary>
        private bool Advance(double duration)
        {
            double end = _t + duration;
            double ev = Math.Min(NoticeAt, Kill);
            if (ev < end)
            {
                _t = Math.Max(_t, ev);
                return false;
            }
            _t = end;
            return true;
        }

        private void CompletePersist()
        {
            if (!_pending || _pendingCommitAt > _t) return;
            _pending = false;
            if (_pendingStep > _committed || !_anyCommitted)
            {
                _committed = _pendingStep;
                _anyCommitted = true;
            }
            // Reported like a checkpointer that measures the slowdown would (training ran slower for the part of the
            // persist it did not spend waiting); the policy's own measurement from step times is unit-tested.
            double lost = (1 - _speedWhilePersisting) * Math.Max(0, _persist - _pendingIdle);
            policy.OnCheckpointCommitted(new CheckpointCommitCost(TimeSpan.FromSeconds(_stall), TimeSpan.FromSeconds(_persist), 0)
            {
                PersistSlowdown = TimeSpan.FromSeconds(lost),
            });
        }

        /// <summary>
        /// A notice: the step in progress finishes, then the emergency checkpoint (after the persist in flight, if
        /// any) is taken and training stops; the interruption follows at its time.
        /// </summary>
        private void OnNotice()
        {
            _noticeHandled = true;
            double kill = Kill;
            if (NoticeAtOf(_next) > _t)
            {
                double stepEnd = _t + StepWallTime();
                if (stepEnd > kill) { Interrupt(partial: kill - _t); return; }
                _t = stepEnd;
                _progress++;
            }
            CompletePersist();
            double start = _pending ? Math.Max(_t, _pendingCommitAt) : _t;
            bool pendingCommits = _pending && _pendingCommitAt <= kill;
            long saved = pendingCommits ? _pendingStep : _committed;
            bool emergencyCommits = _progress > saved && start + _stall + _persist <= kill;
            _t = kill;
            CompletePersist();
            if (emergencyCommits)
            {
                _committed = _progress;
                _anyCommitted = true;
            }
            Interrupt(partial: 0);
        }

        private double NoticeAtOf(int index) => kills[index] - _lead;

        private void Interrupt(double partial)
        {
            _t = Kill;
            CompletePersist();
            _pending = false;
            long lost = _progress - _committed;
            totals.Lost += lost * _step + partial;
            totals.StepsLost += lost;
            totals.Interruptions++;
            _progress = _committed;
            NextInterruption();

            double restartStart = _t;
            double restarted = _t + _restart;
            while (_t < horizon && !Advance(restarted - _t))
            {
                if (Kill <= _t)
                {
                    // Interrupted again while restarting: no progress to lose, the restart begins anew.
                    totals.Interruptions++;
                    NextInterruption();
                    restarted = _t + _restart;
                }
                else
                {
                    _noticeHandled = true; // a notice while restarting has nothing to save
                }
            }
            totals.Restart += _t - restartStart;
            _lastCheckpointStep = _anyCommitted ? _committed : -1;
            _lastCheckpointTime = _t;
            _lastCheckpointInAttempt = false;
        }

        private void NextInterruption()
        {
            _next++;
            _noticeHandled = false;
            policy.RecordInterruption();
        }
    }
}
