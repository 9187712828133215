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
public static partial class CheckpointSimulator
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
}
