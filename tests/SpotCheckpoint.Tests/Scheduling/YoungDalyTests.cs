using SpotCheckpoint.Scheduling;

namespace SpotCheckpoint.Tests.Scheduling;

public class YoungDalyTests
{
    [Test]
    public void Young_is_the_square_root_of_twice_the_cost_times_the_mean() =>
        Assert.That(YoungDaly.YoungInterval(2, 3600), Is.EqualTo(120).Within(1e-9));

    [Test]
    public void Daly_is_close_to_young_for_cheap_checkpoints_and_shorter_for_costly_ones()
    {
        Assert.That(YoungDaly.DalyInterval(1, 87_805), Is.EqualTo(YoungDaly.YoungInterval(1, 87_805)).Within(0.5).Percent);
        Assert.That(YoungDaly.DalyInterval(600, 3600), Is.LessThan(YoungDaly.YoungInterval(600, 3600)));
        Assert.That(YoungDaly.DalyInterval(8000, 3600), Is.EqualTo(3600), "δ ≥ 2M: checkpoint every M");
    }

    [Test]
    public void The_expected_waste_is_least_near_the_daly_interval()
    {
        foreach (var (cost, mean) in new[] { (1.0, 87_805.0), (30.0, 20_000.0), (300.0, 7_200.0) })
        {
            double tau = YoungDaly.DalyInterval(cost, mean);
            double best = YoungDaly.ExpectedWasteFraction(tau, cost, mean);
            foreach (var factor in new[] { 0.5, 0.8, 1.25, 2.0 })
                Assert.That(YoungDaly.ExpectedWasteFraction(tau * factor, cost, mean), Is.GreaterThan(best), $"δ={cost}, M={mean}, τ×{factor}");
        }
    }

    [Test]
    public void The_expected_waste_matches_the_first_order_estimate_for_small_rates()
    {
        // First order: δ/τ + τ/(2M) + R/M.
        double waste = YoungDaly.ExpectedWasteFraction(600, 1, 1e6, restart: 100);
        Assert.That(waste, Is.EqualTo(1.0 / 600 + 600 / 2e6 + 100 / 1e6).Within(2).Percent);
    }

    [Test]
    public void The_exact_optimum_minimises_the_exact_waste_and_matches_daly_for_cheap_checkpoints()
    {
        foreach (var (stall, persist, slowdown, mean) in new[] { (1.0, 0.0, 0.0, 87_805.0), (0.2, 60.0, 0.05, 156_522.0), (30.0, 120.0, 0.1, 36_000.0), (0.1, 120.0, 0.0, 36_000.0) })
        {
            double best = CheckpointOptimum.Interval(stall, persist, slowdown, mean);
            var (numeric, waste) = IntervalGridTests.NumericOptimum(stall, persist, slowdown, mean, restart: 120);
            Assert.That(best, Is.EqualTo(numeric).Within(0.5).Percent, $"δ={stall}, p={persist}, s={slowdown}, M={mean}");
            Assert.That(CheckpointOptimum.WasteFraction(best, stall, persist, slowdown, mean, restart: 120), Is.EqualTo(waste).Within(1e-9));
        }
        Assert.That(CheckpointOptimum.ComputeInterval(1, 87_805), Is.EqualTo(YoungDaly.DalyInterval(1, 87_805)).Within(0.1).Percent);
        Assert.That(CheckpointOptimum.Interval(0.1, 120, 0, 36_000), Is.EqualTo(120), "one persist at a time");
    }

    [Test]
    public void The_commit_latency_costs_like_restart_time()
    {
        // W ≈ c/τ + (τ/2 + R + p)/M to first order.
        double waste = CheckpointOptimum.WasteFraction(600, 1, 30, 0, 1e6, restart: 100);
        Assert.That(waste, Is.EqualTo(1.0 / 600 + 600 / 2e6 + 130 / 1e6).Within(2).Percent);
    }
}
