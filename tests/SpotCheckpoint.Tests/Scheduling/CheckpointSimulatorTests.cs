using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Scheduling.Simulation;

namespace SpotCheckpoint.Tests.Scheduling;

public class CheckpointSimulatorTests
{
    /// <summary>δ = 1 s at 4.1 %/h, no restart cost, no notices: about 700 interruptions in all.</summary>
    private static SimulationOptions Memoryless() => new()
    {
        HazardPerHour = 0.041,
        StepDuration = TimeSpan.FromSeconds(10),
        Stall = TimeSpan.FromSeconds(1),
        Persist = TimeSpan.FromSeconds(5),
        PersistCostFraction = 0,
        Restart = TimeSpan.Zero,
        Hours = 24,
        Runs = 700,
        Seed = 7,
    };

    private static PolicyOutcome Outcome(SimulationReport report, string name) => report.Policies.Single(p => p.Name == name);

    [Test]
    public void Without_notices_the_adaptive_policy_wastes_what_young_daly_predicts_and_at_most_half_of_a_fixed_half_hour()
    {
        var report = CheckpointSimulator.Run(Memoryless());
        var adaptive = Outcome(report, "adaptive");
        var fixedHalfHour = Outcome(report, "fixed-1800s");
        Assert.That(report.YoungDalyIntervalSeconds, Is.EqualTo(Math.Sqrt(2 * 1 * 3600 / 0.041)).Within(1).Percent);
        Assert.That(adaptive.InterruptionsPerRun * report.Runs, Is.GreaterThan(600), "enough interruptions for the averages to mean something");
        Assert.That(adaptive.WastedFraction, Is.EqualTo(report.YoungDalyWastedFraction).Within(10).Percent);
        Assert.That(adaptive.WastedFraction, Is.LessThanOrEqualTo(fixedHalfHour.WastedFraction / 2));
        Assert.That(Outcome(report, "none").WastedFraction, Is.GreaterThan(10 * adaptive.WastedFraction));
    }

    [Test]
    public void With_reliable_notices_an_interruption_loses_no_steps()
    {
        var options = Memoryless();
        options.Runs = 200;
        options.NoticeProbability = 1;
        options.NoticeLead = TimeSpan.FromSeconds(120);
        var report = CheckpointSimulator.Run(options);
        foreach (var policy in report.Policies)
        {
            Assert.That(policy.InterruptionsPerRun, Is.GreaterThan(0.5));
            Assert.That(policy.StepsLostPerInterruption, Is.LessThan(0.5), policy.Name);
        }
        options.NoticeProbability = 0;
        Assert.That(Outcome(CheckpointSimulator.Run(options), "adaptive").StepsLostPerInterruption, Is.GreaterThan(20), "without notices the same runs lose steps");
    }

    [Test]
    public void Notices_too_short_for_the_emergency_checkpoint_save_nothing()
    {
        var options = Memoryless();
        options.Runs = 100;
        options.NoticeProbability = 1;
        options.NoticeLead = TimeSpan.FromSeconds(10); // a step, a stall and a persist take 16 s
        var withShortNotice = Outcome(CheckpointSimulator.Run(options), "none");
        Assert.That(withShortNotice.StepsLostPerInterruption, Is.GreaterThan(1000));
    }

    [Test]
    public void A_trace_is_replayed_exactly()
    {
        var options = new SimulationOptions
        {
            Trace = [3600.5],
            Hours = 2,
            Runs = 3,
            StepDuration = TimeSpan.FromSeconds(1),
            Stall = TimeSpan.FromSeconds(1),
            Persist = TimeSpan.FromSeconds(10),
            PersistCostFraction = 0,
            Restart = TimeSpan.FromSeconds(60),
        };
        var report = CheckpointSimulator.Run(options);
        Assert.That(report.HazardPerHour, Is.EqualTo(0.5));
        var none = Outcome(report, "none");
        Assert.That(none.InterruptionsPerRun, Is.EqualTo(1));
        Assert.That(none.StepsLostPerInterruption, Is.EqualTo(3600), "everything before the interruption");
        Assert.That(none.WastedHoursPerRun * 3600, Is.EqualTo(3600.5 + 60).Within(1), "lost work, half a step and the restart");
        var fixedHalfHour = Outcome(report, "fixed-1800s");
        // A checkpoint at step 1800 (committed at 1811 s); the next would come at step 3600, after the interruption.
        Assert.That(fixedHalfHour.StepsLostPerInterruption, Is.EqualTo(3599 - 1800));
    }

    [Test]
    public void Equal_seeds_give_equal_reports_and_other_seeds_other_interruptions()
    {
        var options = Memoryless();
        options.Runs = 20;
        var a = CheckpointSimulator.Run(options);
        var b = CheckpointSimulator.Run(options);
        Assert.That(a.Policies.Select(p => p.WastedFraction), Is.EqualTo(b.Policies.Select(p => p.WastedFraction)));
        options.Seed = 8;
        var c = CheckpointSimulator.Run(options);
        Assert.That(c.Policies[0].WastedFraction, Is.Not.EqualTo(a.Policies[0].WastedFraction));
    }

    [Test]
    public void A_wrong_prior_is_corrected_by_the_observed_interruptions()
    {
        var options = Memoryless();
        options.Runs = 50;
        options.Hours = 200;
        options.AdaptivePriorPerHour = 0.002; // twenty times too optimistic
        var policies = CheckpointSimulator.DefaultPolicies(options).Where(p => p.Name is "adaptive" or "fixed-1800s");
        var report = CheckpointSimulator.Run(options, policies);
        var adaptive = Outcome(report, "adaptive");
        Assert.That(adaptive.WastedFraction, Is.EqualTo(report.YoungDalyWastedFraction).Within(20).Percent);
        Assert.That(adaptive.WastedFraction, Is.LessThan(Outcome(report, "fixed-1800s").WastedFraction));
    }

    [Test]
    public void The_cost_view_prices_the_waste()
    {
        var view = CostView.For(wastedFraction: 0.2, onDemandPerHour: 4, spotPerHour: 1.2);
        Assert.That(view.EffectiveHourlyRate, Is.EqualTo(1.5).Within(1e-12));
        Assert.That(view.InterruptionOverheadPerHour, Is.EqualTo(0.3).Within(1e-12));
        Assert.That(view.MonthlySavings, Is.EqualTo(2.5 * 730).Within(1e-9));
        Assert.That(view.SavingsFraction, Is.EqualTo(0.625).Within(1e-12));
    }

    [Test]
    public void Custom_policies_can_be_replayed()
    {
        var options = Memoryless();
        options.Runs = 10;
        var report = CheckpointSimulator.Run(options, [new SimulatedPolicy("every-100-steps", _ => CheckpointPolicy.EverySteps(100))]);
        Assert.That(report.Policies.Single().Name, Is.EqualTo("every-100-steps"));
        Assert.That(report.Policies.Single().MeanIntervalSeconds, Is.EqualTo(1000).Within(1));
    }

    [Test]
    public void Traces_are_read_from_csv()
    {
        var trace = InterruptionTrace.Parse(new StringReader("seconds,zone\n# comment\n7200,us-east-1a\n\n3600.5,us-east-1b\n"));
        Assert.That(trace, Is.EqualTo(new[] { 3600.5, 7200 }));
        Assert.That(() => InterruptionTrace.Parse(new StringReader("10\nabc\n")), Throws.InstanceOf<FormatException>().With.Message.Contains("Line 2"));
        Assert.That(() => InterruptionTrace.Parse(new StringReader("-5\n")), Throws.InstanceOf<FormatException>());
    }
}
