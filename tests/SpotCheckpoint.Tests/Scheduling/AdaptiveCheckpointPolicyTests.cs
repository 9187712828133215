using SpotCheckpoint.Scheduling;

namespace SpotCheckpoint.Tests.Scheduling;

public class AdaptiveCheckpointPolicyTests
{
    private const double H100PerHour = 0.041;
    private static readonly double MeanSeconds = 3600 / H100PerHour;

    private static (AdaptiveCheckpointPolicy Policy, PolicyDriver Driver) Create(Action<AdaptiveCheckpointPolicyOptions>? configure = null, double stepSeconds = 1)
    {
        var time = PolicyDriver.NewClock();
        // A prior worth a century of observation keeps M known and fixed; the learning tests lower it.
        var options = new AdaptiveCheckpointPolicyOptions { HazardPerHour = H100PerHour, PriorWeightHours = 1e6, TimeProvider = time };
        configure?.Invoke(options);
        var policy = new AdaptiveCheckpointPolicy(options);
        return (policy, new PolicyDriver(policy, time, TimeSpan.FromSeconds(stepSeconds)));
    }

    [Test]
    public void The_interval_matches_young_daly_for_a_known_cost_and_hazard()
    {
        var (_, driver) = Create();
        driver.Stall = TimeSpan.FromSeconds(1);
        driver.RunCheckpoints(2); // the first one measures δ
        var intervals = driver.RunCheckpoints(5);
        double expected = Math.Sqrt(2 * 1.0 * MeanSeconds); // ≈ 419 s
        foreach (var interval in intervals)
            Assert.That(interval.TotalSeconds, Is.EqualTo(expected).Within(5).Percent);
    }

    [Test]
    public void The_cost_counts_the_stall_and_the_configured_share_of_the_persist()
    {
        var (policy, driver) = Create(o => o.PersistCostFraction = 0.25);
        driver.Stall = TimeSpan.FromSeconds(0.5);
        driver.Persist = TimeSpan.FromSeconds(6);
        driver.RunCheckpoints(1);
        Assert.That(policy.CheckpointCost.TotalSeconds, Is.EqualTo(0.5 + 0.25 * 6).Within(1e-9));
        var intervals = driver.RunCheckpoints(3);
        Assert.That(intervals[^1].TotalSeconds, Is.EqualTo(Math.Sqrt(2 * 2.0 * MeanSeconds)).Within(5).Percent);
    }

    [Test]
    public void A_slower_store_lengthens_the_interval_as_the_measured_cost_grows()
    {
        var (policy, driver) = Create();
        driver.Stall = TimeSpan.FromSeconds(1);
        var fast = driver.RunCheckpoints(4)[^1];
        driver.Stall = TimeSpan.FromSeconds(16); // the store (or the copy) became sixteen times slower
        var slow = driver.RunCheckpoints(12)[^1];
        Assert.That(policy.CheckpointCost.TotalSeconds, Is.EqualTo(16).Within(5).Percent);
        Assert.That(slow.TotalSeconds, Is.EqualTo(YoungDaly.DalyInterval(16, MeanSeconds)).Within(5).Percent);
        Assert.That(slow / fast, Is.EqualTo(4).Within(10).Percent, "τ grows with √δ");
    }

    [Test]
    public void A_persist_that_does_not_slow_the_steps_costs_training_only_the_stall()
    {
        // 0.2 s stall, a minute of background persist, steps as fast with it as without: the interval is the one
        // for 0.2 s (bounded below by the persist), not for 0.2 s + a share of the minute.
        var (policy, driver) = Create();
        driver.Stall = TimeSpan.FromSeconds(0.2);
        driver.Persist = TimeSpan.FromSeconds(60);
        driver.BusyStepDuration = TimeSpan.FromSeconds(1);
        driver.RunCheckpoints(6);
        var intervals = driver.RunCheckpoints(3);
        Assert.That(policy.MeasuredPersistSlowdown, Is.EqualTo(0).Within(1e-9));
        Assert.That(policy.CheckpointCost.TotalSeconds, Is.EqualTo(0.2).Within(1e-6));
        double expected = CheckpointOptimum.Interval(0.2, 60, 0, MeanSeconds); // ≈ 187 s
        Assert.That(intervals[^1].TotalSeconds, Is.EqualTo(expected).Within(5).Percent);
    }

    [Test]
    public void The_slowdown_while_persisting_is_measured_from_the_step_times()
    {
        var (policy, driver) = Create();
        driver.Stall = TimeSpan.FromSeconds(0.2);
        driver.Persist = TimeSpan.FromSeconds(60);
        driver.BusyStepDuration = TimeSpan.FromSeconds(1.25); // training runs at 80 % of its speed meanwhile
        driver.RunCheckpoints(6);
        var intervals = driver.RunCheckpoints(3);
        Assert.That(policy.MeasuredPersistSlowdown, Is.EqualTo(0.2).Within(1e-6));
        Assert.That(policy.StepDuration.TotalSeconds, Is.LessThan(1.25));
        Assert.That(policy.CheckpointCost.TotalSeconds, Is.EqualTo(0.2 + 0.2 * 60).Within(1).Percent);
        Assert.That(intervals[^1].TotalSeconds, Is.EqualTo(CheckpointOptimum.Interval(0.2, 60, 0.2, MeanSeconds)).Within(5).Percent);
    }

    [Test]
    public void A_reported_slowdown_and_device_stall_are_what_training_pays()
    {
        var (policy, driver) = Create();
        driver.Stall = TimeSpan.FromMilliseconds(0.1); // the host only enqueues the copy
        driver.Persist = TimeSpan.FromSeconds(40);
        driver.Cost = () => new CheckpointCommitCost(TimeSpan.FromMilliseconds(0.1), TimeSpan.FromSeconds(40), 1 << 20)
        {
            DeviceStall = TimeSpan.FromSeconds(1.5), // the default stream waited for the device-to-host copy
            PersistSlowdown = TimeSpan.FromSeconds(2), // 5 % of the persist
        };
        driver.RunCheckpoints(3);
        Assert.That(policy.PersistSlowdown, Is.EqualTo(0.05).Within(1e-9));
        Assert.That(policy.CheckpointCost.TotalSeconds, Is.EqualTo(1.5 + 2).Within(1e-6));
        var intervals = driver.RunCheckpoints(2);
        Assert.That(intervals[^1].TotalSeconds, Is.EqualTo(CheckpointOptimum.Interval(1.5, 40, 0.05, MeanSeconds)).Within(5).Percent);
    }

    [Test]
    public void One_slow_checkpoint_does_not_swing_the_interval()
    {
        var (policy, driver) = Create();
        driver.Stall = TimeSpan.FromSeconds(1);
        var before = driver.RunCheckpoints(4)[^1];
        driver.Stall = TimeSpan.FromSeconds(100);
        driver.RunCheckpoints(1);
        driver.Stall = TimeSpan.FromSeconds(1);
        var after = driver.RunCheckpoints(1)[0];
        Assert.That(policy.CheckpointCost.TotalSeconds, Is.LessThan(2));
        Assert.That(after / before, Is.LessThan(1.4));
    }

    [Test]
    public void A_risk_signal_checkpoints_at_the_next_step_then_tightens_the_interval_for_a_while()
    {
        var (policy, driver) = Create(o => { o.RiskHazardMultiplier = 9; o.RiskDuration = TimeSpan.FromHours(1); });
        var normal = driver.RunCheckpoints(3)[^1];
        for (int i = 0; i < 120; i++) Assert.That(driver.RunStep(), Is.False);

        policy.RaiseRisk();
        Assert.That(driver.RunStep(), Is.True, "checkpoint soon: at the next step boundary");
        Assert.That(policy.IsRiskRaised, Is.True);
        var tight = driver.RunCheckpoints(3);
        foreach (var interval in tight)
            Assert.That(interval.TotalSeconds, Is.EqualTo(normal.TotalSeconds / 3).Within(5).Percent, "hazard × 9 shortens τ by √9");

        driver.Time.Advance(TimeSpan.FromHours(1));
        Assert.That(policy.IsRiskRaised, Is.False);
        var relaxed = driver.RunCheckpoints(2)[^1];
        Assert.That(relaxed.TotalSeconds, Is.EqualTo(normal.TotalSeconds).Within(5).Percent);
    }

    [Test]
    public void A_risk_signal_right_after_a_checkpoint_does_not_take_another_one_at_once()
    {
        var (policy, driver) = Create(o => o.MinInterval = TimeSpan.FromSeconds(30));
        driver.RunCheckpoints(2);
        policy.RaiseRisk(TimeSpan.FromMinutes(10));
        Assert.That(driver.RunStep(), Is.False, "the last checkpoint is a second old");
    }

    [Test]
    public void Observed_interruptions_tighten_the_interval()
    {
        var (policy, driver) = Create(o => o.PriorWeightHours = 24);
        var before = driver.RunCheckpoints(3)[^1];
        for (int i = 0; i < 24; i++) policy.RecordInterruption();
        var after = driver.RunCheckpoints(2)[^1];
        // (0.041 × 24 + 24) / (24 + ε) ≈ 1.041 per hour: about 25× the prior, so τ shrinks about 5×.
        double expected = YoungDaly.DalyInterval(1, 3600 / policy.Hazard.RatePerHour);
        Assert.That(after.TotalSeconds, Is.EqualTo(Math.Max(expected, 30)).Within(5).Percent);
        Assert.That(after, Is.LessThan(before / 4));
    }

    [Test]
    public void Hours_without_interruption_lengthen_the_interval()
    {
        var (policy, driver) = Create(o => o.PriorWeightHours = 24);
        var first = driver.RunCheckpoints(3)[^1];
        while (policy.Hazard.ExposureHours < 24) driver.RunStep();
        double exposure = policy.Hazard.ExposureHours;
        Assert.That(policy.Hazard.RatePerHour, Is.EqualTo(H100PerHour * 24 / (24 + exposure)).Within(1e-9), "about half the prior");
        var later = driver.RunCheckpoints(2)[^1];
        Assert.That(later.TotalSeconds, Is.EqualTo(YoungDaly.DalyInterval(1, 3600 / policy.Hazard.RatePerHour)).Within(5).Percent);
        Assert.That(later / first, Is.GreaterThan(1.3));
    }

    [Test]
    public void Weekends_lengthen_the_interval_by_the_weekend_factor()
    {
        var (_, weekday) = Create();
        var (_, weekend) = Create();
        weekend.Time.Advance(TimeSpan.FromDays(5)); // Saturday
        var a = weekday.RunCheckpoints(3)[^1];
        var b = weekend.RunCheckpoints(3)[^1];
        Assert.That(b / a, Is.EqualTo(Math.Sqrt(1 / HazardPriors.WeekendFactor)).Within(5).Percent);
    }

    [Test]
    public void The_interval_stays_within_the_bounds()
    {
        var (cheap, cheapDriver) = Create(o => o.MinInterval = TimeSpan.FromSeconds(45));
        cheapDriver.Stall = TimeSpan.FromMilliseconds(1); // τ would be ≈ 13 s
        var shortest = cheapDriver.RunCheckpoints(4)[^1];
        Assert.That(shortest.TotalSeconds, Is.EqualTo(45).Within(1));
        Assert.That(cheap.Interval, Is.EqualTo(TimeSpan.FromSeconds(45)));

        var (rare, rareDriver) = Create(o => o.HazardPerHour = 0.0001); // τ would be ≈ 4 h
        var longest = rareDriver.RunCheckpoints(3)[^1];
        Assert.That(rare.Interval, Is.EqualTo(TimeSpan.FromMinutes(30)), "default max 30 minutes");
        Assert.That(longest.TotalSeconds, Is.EqualTo(1800).Within(1));
    }

    [Test]
    public void Checkpoints_land_on_the_step_boundary_nearest_the_interval()
    {
        var (policy, driver) = Create(stepSeconds: 7);
        driver.RunCheckpoints(2);
        var intervals = driver.RunCheckpoints(4);
        double tau = policy.Interval.TotalSeconds;
        foreach (var interval in intervals)
            Assert.That(Math.Abs(interval.TotalSeconds - tau), Is.LessThanOrEqualTo(3.5 + 1e-9));
        Assert.That(policy.StepDuration.TotalSeconds, Is.EqualTo(7).Within(1e-6));
        Assert.That(policy.IntervalSteps, Is.EqualTo((long)Math.Round(tau / 7)));
    }

    [Test]
    public void The_step_duration_ignores_the_snapshot_stall()
    {
        var (policy, driver) = Create(stepSeconds: 2);
        driver.Stall = TimeSpan.FromSeconds(30);
        driver.RunCheckpoints(3);
        Assert.That(policy.StepDuration.TotalSeconds, Is.EqualTo(2).Within(1e-9));
    }

    [Test]
    public void Reliable_notices_leave_periodic_checkpoints_to_the_rest()
    {
        var (covered, _) = Create(o => o.NoticeCoverage = 0.75);
        var (plain, _) = Create();
        Assert.That(covered.MeanTimeToInterruption / plain.MeanTimeToInterruption, Is.EqualTo(4).Within(1e-6));
    }

    [Test]
    public void The_family_prior_comes_from_the_instance_type()
    {
        var policy = new AdaptiveCheckpointPolicy(new AdaptiveCheckpointPolicyOptions
        {
            InstanceType = "p4d.24xlarge",
            TimeProvider = PolicyDriver.NewClock(),
        });
        Assert.That(policy.Hazard.GpuFamily, Is.EqualTo(GpuFamily.A100));
        Assert.That(policy.Hazard.PriorPerHour, Is.EqualTo(HazardPriors.A100PerHour));
    }

    [Test]
    public void IsDue_does_not_allocate()
    {
        var clock = new ManualClock();
        var policy = new AdaptiveCheckpointPolicy(new AdaptiveCheckpointPolicyOptions { HazardPerHour = H100PerHour, TimeProvider = clock });
        policy.OnCheckpointCommitted(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), 1);
        policy.RaiseRisk(TimeSpan.FromMinutes(5));
        policy.IsDue(1, 0, TimeSpan.Zero);
        long before = GC.GetAllocatedBytesForCurrentThread();
        long due = 0;
        for (long step = 2; step < 20_000; step++)
        {
            clock.Seconds += 1; // crosses many model refreshes and the end of the risk window
            if (policy.IsDue(step, due, TimeSpan.FromSeconds(clock.Seconds - due))) due = step;
        }
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
        Assert.That(due, Is.GreaterThan(0), "the loop exercised the due path too");
    }

    /// <summary>A clock that allocates nothing when read or moved.</summary>
    private sealed class ManualClock : TimeProvider
    {
        public double Seconds;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => (long)(Seconds * TimeSpan.TicksPerSecond);

        public override DateTimeOffset GetUtcNow() => PolicyDriver.Monday.AddTicks(GetTimestamp());
    }

    [Test]
    public void Invalid_options_are_rejected_naming_the_option()
    {
        Assert.That(() => new AdaptiveCheckpointPolicy(new AdaptiveCheckpointPolicyOptions { MaxInterval = TimeSpan.FromSeconds(1) }),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("MaxInterval"));
        Assert.That(() => new AdaptiveCheckpointPolicy(new AdaptiveCheckpointPolicyOptions { PersistCostFraction = 2 }),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("PersistCostFraction"));
    }
}
