namespace SpotCheckpoint.Scheduling.Simulation;

/// <summary>
/// Replays interruptions against checkpoint policies and reports the GPU time each one wastes, next to the analytic
/// Young/Daly figures and a cost view. The policies are the library's own, driven step by step on a simulated clock,
/// so what is measured is what a training loop would get. Method and results: docs/scheduling.md.
/// </summary>
/// <example>
/// <code>
/// var report = CheckpointSimulator.Run(new SimulationOptions { HazardPerHour = 0.041, Stall = TimeSpan.FromSeconds(1) });
/// foreach (var p in report.Policies) Console.WriteLine($"{p.Name}: {p.WastedFraction:P2}");
/// </code>
/// </example>
public static class CheckpointSimulator
{
    /// <summary>The name of the adaptive policy in <see cref="DefaultPolicies"/>.</summary>
    public const string AdaptivePolicyName = "adaptive";

    /// <summary>The name of the fixed interval at Daly's optimum in <see cref="DefaultPolicies"/>.</summary>
    public const string YoungDalyPolicyName = "young-daly";

    /// <summary>The name of the policy that never checkpoints in <see cref="DefaultPolicies"/>.</summary>
    public const string NoCheckpointsPolicyName = "none";

    /// <summary>
    /// The policies compared by default: <c>adaptive</c> (<see cref="AdaptiveCheckpointPolicy"/> with the job's hazard
    /// as its prior, no weekend factor, notice coverage = notice probability when a step, a stall and a persist fit
    /// into the notice lead, else 0; the simulator reports the persist slowdown it applies, as a checkpointer that
    /// measures it does), <c>young-daly</c> (a fixed interval at the optimum of <see cref="CheckpointOptimum"/>),
    /// <c>fixed-&lt;n&gt;s</c> (<see cref="SimulationOptions.FixedInterval"/>) and <c>none</c>.
    /// </summary>
    public static IReadOnlyList<SimulatedPolicy> DefaultPolicies(SimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var (interval, _) = Analytic(options);
        double prior = options.AdaptivePriorPerHour ?? Math.Max(options.HazardPerHour, 1e-9);
        // A notice only spares the periodic checkpoints when the emergency checkpoint fits into its window.
        bool noticeSuffices = options.StepDuration + options.Stall + options.Persist <= options.NoticeLead;
        double coverage = noticeSuffices ? Math.Min(options.NoticeProbability, 0.999) : 0;
        return
        [
            new SimulatedPolicy(AdaptivePolicyName, clock =>
            {
                var adaptive = new AdaptiveCheckpointPolicyOptions
                {
                    HazardPerHour = prior,
                    WeekendFactor = 1,
                    NoticeCoverage = coverage,
                    TimeProvider = clock,
                };
                if (options.AdaptiveMaxInterval is { } max) adaptive.MaxInterval = max;
                return new AdaptiveCheckpointPolicy(adaptive);
            }),
            new SimulatedPolicy(YoungDalyPolicyName, _ => CheckpointPolicy.Every(TimeSpan.FromSeconds(Math.Max(interval, 1e-3)))),
            new SimulatedPolicy($"fixed-{options.FixedInterval.TotalSeconds:0.###}s", _ => CheckpointPolicy.Every(options.FixedInterval)),
            new SimulatedPolicy(NoCheckpointsPolicyName, _ => CheckpointPolicy.Manual),
        ];
    }

    /// <summary>Simulates <see cref="DefaultPolicies"/>.</summary>
    public static SimulationReport Run(SimulationOptions options, CancellationToken cancellationToken = default) =>
        Run(options, DefaultPolicies(options), cancellationToken);

    /// <summary>
    /// Simulates each policy over <see cref="SimulationOptions.Runs"/> runs (in parallel; the policies' factories
    /// must be thread-safe); every policy sees the same interruptions and notices in a given run. Throws
    /// <see cref="ArgumentException"/> for invalid options.
    /// </summary>
    public static SimulationReport Run(SimulationOptions options, IEnumerable<SimulatedPolicy> policies, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(policies);
        options.Validate();
        var list = policies.ToList();
        if (list.Count == 0) throw new ArgumentException("Give at least one policy.", nameof(policies));

        double horizon = options.Hours * 3600;
        // Runs are independent: simulate them in parallel, then add them up in run order, so that a seed gives the
        // same report bit for bit whatever the thread count.
        var perRun = new Totals[options.Runs, list.Count];
        Parallel.For(0, options.Runs, new ParallelOptions { CancellationToken = cancellationToken }, run =>
        {
            var (times, noticed) = Interruptions(options, run, horizon);
            for (int p = 0; p < list.Count; p++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var clock = new SimulationClock();
                var policy = list[p].Create(clock) ?? throw new InvalidOperationException($"Policy '{list[p].Name}' created null.");
                var totals = new Totals();
                new Job(options, policy, clock, times, noticed, horizon, totals).Run();
                perRun[run, p] = totals;
            }
        });
        var totals = new Totals[list.Count];
        for (int p = 0; p < list.Count; p++)
        {
            totals[p] = new Totals();
            for (int run = 0; run < options.Runs; run++) totals[p].Add(perRun[run, p]);
        }

        var (tau, waste) = Analytic(options);
        double hazard = options.EffectiveHazardPerHour;
        return new SimulationReport
        {
            HazardPerHour = hazard,
            MeanTimeToInterruptionSeconds = hazard > 0 ? 3600 / hazard : double.PositiveInfinity,
            CheckpointCostSeconds = options.CheckpointCostSeconds,
            YoungDalyIntervalSeconds = tau,
            YoungDalyWastedFraction = waste,
            Runs = options.Runs,
            HoursPerRun = options.Hours,
            OnDemandPricePerHour = options.OnDemandPricePerHour,
            SpotPricePerHour = options.SpotPricePerHour,
            Policies = list.Select((p, i) => totals[i].ToOutcome(p.Name, options)).ToList(),
        };
    }

    /// <summary>The optimum wall interval and its exact expected waste for the job (no notices): <see cref="CheckpointOptimum"/>.</summary>
    private static (double Interval, double Waste) Analytic(SimulationOptions options)
    {
        double hazard = options.EffectiveHazardPerHour;
        if (!(hazard > 0)) return (double.PositiveInfinity, 0);
        double m = 3600 / hazard;
        double stall = options.Stall.TotalSeconds, persist = options.Persist.TotalSeconds, slowdown = options.PersistCostFraction;
        double tau = CheckpointOptimum.Interval(stall, persist, slowdown, m);
        if (!(tau > 0)) tau = 1e-3;
        return (tau, CheckpointOptimum.WasteFraction(tau, stall, persist, slowdown, m, options.Restart.TotalSeconds));
    }

    private static (double[] Times, bool[] Noticed) Interruptions(SimulationOptions options, int run, double horizon)
    {
        var random = new Random(unchecked(options.Seed * 7919 + run * 104729 + 17));
        var times = new List<double>();
        if (options.Trace is { } trace)
        {
            times.AddRange(trace.Where(t => t < horizon));
        }
        else
        {
            double perSecond = options.HazardPerHour / 3600;
            for (double t = Exponential(random, perSecond); t < horizon; t += Exponential(random, perSecond)) times.Add(t);
        }
        var noticed = new bool[times.Count];
        for (int i = 0; i < noticed.Length; i++) noticed[i] = random.NextDouble() < options.NoticeProbability;
        return (times.ToArray(), noticed);
    }

    private static double Exponential(Random random, double rate) => rate > 0 ? -Math.Log(1 - random.NextDouble()) / rate : double.PositiveInfinity;

    private sealed class Totals
    {
        public double Wall, Wasted, Checkpoint, Lost, Restart, Interruptions, StepsLost, Checkpoints, IntervalSum, IntervalCount;

        public void Add(Totals other)
        {
            Wall += other.Wall;
            Wasted += other.Wasted;
            Checkpoint += other.Checkpoint;
            Lost += other.Lost;
            Restart += other.Restart;
            Interruptions += other.Interruptions;
            StepsLost += other.StepsLost;
            Checkpoints += other.Checkpoints;
            IntervalSum += other.IntervalSum;
            IntervalCount += other.IntervalCount;
        }

        public PolicyOutcome ToOutcome(string name, SimulationOptions o)
        {
            double wasteFraction = Wall > 0 ? Wasted / Wall : 0;
            double runs = o.Runs;
            return new PolicyOutcome
            {
                Name = name,
                WastedFraction = wasteFraction,
                WastedHoursPerRun = Wasted / 3600 / runs,
                CheckpointHoursPerRun = Checkpoint / 3600 / runs,
                LostWorkHoursPerRun = Lost / 3600 / runs,
                RestartHoursPerRun = Restart / 3600 / runs,
                NoticeHoursPerRun = Math.Max(0, Wasted - Checkpoint - Lost - Restart) / 3600 / runs,
                InterruptionsPerRun = Interruptions / runs,
                StepsLostPerInterruption = Interruptions > 0 ? StepsLost / Interruptions : 0,
                CheckpointsPerHour = Wall > 0 ? Checkpoints / (Wall / 3600) : 0,
                MeanIntervalSeconds = IntervalCount > 0 ? IntervalSum / IntervalCount : 0,
                Cost = CostView.For(wasteFraction, o.OnDemandPricePerHour, o.SpotPricePerHour),
            };
        }
    }

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
