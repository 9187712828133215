namespace SpotCheckpoint.Scheduling.Simulation;

/// <summary>What <see cref="CheckpointSimulator.Run(SimulationOptions, CancellationToken)"/> found.</summary>
public sealed record SimulationReport
{
    /// <summary>The interruption rate per hour the job saw (the trace's, when one was replayed).</summary>
    public required double HazardPerHour { get; init; }

    /// <summary>M = 1 / hazard, in seconds.</summary>
    public required double MeanTimeToInterruptionSeconds { get; init; }

    /// <summary>What one checkpoint costs training: stall + s × persist, in seconds.</summary>
    public required double CheckpointCostSeconds { get; init; }

    /// <summary>The optimum wall interval between snapshots (<see cref="CheckpointOptimum.Interval"/>, no notices), in seconds.</summary>
    public required double YoungDalyIntervalSeconds { get; init; }

    /// <summary>The exact expected waste at that interval for memoryless interruptions (<see cref="CheckpointOptimum.WasteFraction"/>: restart time and commit latency included, no notices).</summary>
    public required double YoungDalyWastedFraction { get; init; }

    /// <summary>Runs simulated.</summary>
    public required int Runs { get; init; }

    /// <summary>Wall-clock hours per run.</summary>
    public required double HoursPerRun { get; init; }

    /// <summary>On-demand price per hour used for the cost view.</summary>
    public required double OnDemandPricePerHour { get; init; }

    /// <summary>Spot price per hour used for the cost view.</summary>
    public required double SpotPricePerHour { get; init; }

    /// <summary>One outcome per replayed policy, in the order given.</summary>
    public required IReadOnlyList<PolicyOutcome> Policies { get; init; }
}

/// <summary>How one policy fared, averaged over the runs.</summary>
public sealed record PolicyOutcome
{
    /// <summary>The policy's name.</summary>
    public required string Name { get; init; }

    /// <summary>Wasted GPU time over total GPU time: everything that did not become kept training progress.</summary>
    public required double WastedFraction { get; init; }

    /// <summary>Wasted GPU hours per run.</summary>
    public required double WastedHoursPerRun { get; init; }

    /// <summary>Of those: hours spent on periodic checkpoints (stalls, waits for a busy persist, persist slowdown).</summary>
    public required double CheckpointHoursPerRun { get; init; }

    /// <summary>Of those: hours of training lost to interruptions (rolled back).</summary>
    public required double LostWorkHoursPerRun { get; init; }

    /// <summary>Of those: hours spent restarting.</summary>
    public required double RestartHoursPerRun { get; init; }

    /// <summary>Of those: hours between a notice and the interruption (the emergency checkpoint, then idle).</summary>
    public required double NoticeHoursPerRun { get; init; }

    /// <summary>Interruptions per run.</summary>
    public required double InterruptionsPerRun { get; init; }

    /// <summary>Completed steps rolled back per interruption.</summary>
    public required double StepsLostPerInterruption { get; init; }

    /// <summary>Periodic checkpoints per wall-clock hour.</summary>
    public required double CheckpointsPerHour { get; init; }

    /// <summary>Mean time between consecutive periodic checkpoints of one attempt, in seconds; 0 when none.</summary>
    public required double MeanIntervalSeconds { get; init; }

    /// <summary>The cost view of this policy.</summary>
    public required CostView Cost { get; init; }
}

/// <summary>What the waste does to the price of training on spot.</summary>
/// <param name="EffectiveHourlyRate">Spot price per hour of kept training: spot / (1 − wasted fraction).</param>
/// <param name="InterruptionOverheadPerHour">Effective rate minus the spot price: what the waste costs per useful hour.</param>
/// <param name="MonthlySavings">(on-demand − effective rate) × 730 useful hours: a month of training on spot instead of on demand.</param>
/// <param name="SavingsFraction">1 − effective rate / on-demand price.</param>
public sealed record CostView(double EffectiveHourlyRate, double InterruptionOverheadPerHour, double MonthlySavings, double SavingsFraction)
{
    /// <summary>Hours in an average month (8760 / 12).</summary>
    public const double HoursPerMonth = 730;

    /// <summary>The cost view of a policy with <paramref name="wastedFraction"/> at the given prices.</summary>
    public static CostView For(double wastedFraction, double onDemandPerHour, double spotPerHour)
    {
        double useful = 1 - wastedFraction;
        double effective = useful > 0 ? spotPerHour / useful : double.PositiveInfinity;
        return new CostView(
            effective,
            effective - spotPerHour,
            (onDemandPerHour - effective) * HoursPerMonth,
            onDemandPerHour > 0 ? 1 - effective / onDemandPerHour : 0);
    }
}
