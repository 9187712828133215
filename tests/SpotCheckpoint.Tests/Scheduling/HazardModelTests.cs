using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Scheduling;

public class HazardModelTests
{
    [Test]
    public void Without_observations_the_rate_is_the_prior_and_observations_move_it_by_their_weight()
    {
        var time = PolicyDriver.NewClock();
        var model = new HazardModel(0.04, priorWeightHours: 25, timeProvider: time);
        Assert.That(model.RatePerHour, Is.EqualTo(0.04).Within(1e-12));
        model.AddExposure(TimeSpan.FromHours(75), time.GetUtcNow());
        model.RecordInterruption();
        model.RecordInterruption();
        Assert.That(model.RatePerHour, Is.EqualTo((0.04 * 25 + 2) / (25 + 75)).Within(1e-12));
    }

    [Test]
    public void Weekend_hours_count_as_less_exposure_and_the_weekend_rate_is_lower()
    {
        var time = PolicyDriver.NewClock();
        var model = new HazardModel(0.05, weekendFactor: 0.5, timeProvider: time);
        var saturday = PolicyDriver.Monday.AddDays(5);
        Assert.That(HazardModel.IsWeekend(saturday), Is.True);
        Assert.That(model.RatePerHourAt(saturday), Is.EqualTo(0.025).Within(1e-12));
        Assert.That(model.RatePerHourAt(PolicyDriver.Monday), Is.EqualTo(0.05).Within(1e-12));
        model.AddExposure(TimeSpan.FromHours(10), saturday);
        Assert.That(model.ExposureHours, Is.EqualTo(5).Within(1e-12));
    }

    [Test]
    public void The_gpu_family_prior_is_chosen_from_the_table()
    {
        Assert.That(HazardModel.ForGpuFamily(GpuFamily.H100).PriorPerHour, Is.EqualTo(0.041));
        Assert.That(HazardModel.ForGpuFamily(GpuFamily.V100).PriorPerHour, Is.EqualTo(0.008));
        Assert.That(HazardModel.ForInstanceType("Standard_ND96isr_H100_v5").GpuFamily, Is.EqualTo(GpuFamily.H100));
        Assert.That(HazardModel.ForInstanceType("m5.large").PriorPerHour, Is.EqualTo(HazardPriors.DefaultPerHour));
    }

    [Test]
    public async Task Observations_are_kept_with_the_run_and_restored_by_the_next_attempt()
    {
        using var dir = new TempDirectory();
        await using var store = new LocalFileStore(dir.Path);
        var time = PolicyDriver.NewClock();

        var first = new HazardModel(0.041, timeProvider: time);
        Assert.That(await first.BeginAttemptAsync(store, "run-a"), Is.False, "nothing kept yet");
        first.AddExposure(TimeSpan.FromHours(6), time.GetUtcNow());
        first.RecordInterruption();
        await first.EndAttemptAsync(store, "run-a");
        Assert.That(File.Exists(Path.Combine(dir.Path, "run-a", "hazard.json")), Is.True);

        var second = new HazardModel(0.041, timeProvider: time);
        Assert.That(await second.BeginAttemptAsync(store, "run-a"), Is.True);
        Assert.That(second.Interruptions, Is.EqualTo(1));
        Assert.That(second.ExposureHours, Is.EqualTo(6).Within(1e-9));
        Assert.That(second.RatePerHour, Is.EqualTo(first.RatePerHour).Within(1e-12));
        Assert.That(await CheckpointCatalog.ListAsync(store, "run-a"), Is.Empty, "the state is not mistaken for a checkpoint");
    }

    [Test]
    public async Task An_attempt_that_never_ended_counts_as_an_interruption_once()
    {
        using var dir = new TempDirectory();
        await using var store = new LocalFileStore(dir.Path);
        var crashed = new HazardModel(0.041);
        await crashed.BeginAttemptAsync(store, "run-b");
        await crashed.SaveAsync(store, "run-b"); // saved now and then, then killed without notice

        var next = new HazardModel(0.041);
        await next.BeginAttemptAsync(store, "run-b");
        Assert.That(next.Interruptions, Is.EqualTo(1));
        await next.EndAttemptAsync(store, "run-b");

        var third = new HazardModel(0.041);
        await third.BeginAttemptAsync(store, "run-b");
        Assert.That(third.Interruptions, Is.EqualTo(1), "a clean end is not an interruption");
    }

    [Test]
    public async Task A_damaged_state_is_ignored_and_replaced()
    {
        using var dir = new TempDirectory();
        await using var store = new LocalFileStore(dir.Path);
        Directory.CreateDirectory(Path.Combine(dir.Path, "run-c"));
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "run-c", "hazard.json"), "{\"interruptions\": -4");
        var model = new HazardModel(0.041);
        Assert.That(await model.BeginAttemptAsync(store, "run-c"), Is.False);
        Assert.That(model.Interruptions, Is.Zero);
        var reread = HazardState.FromJson(await File.ReadAllBytesAsync(Path.Combine(dir.Path, "run-c", "hazard.json")));
        Assert.That(reread.AttemptOpen, Is.True);
    }

    [Test]
    public void The_state_is_plain_camel_case_json()
    {
        var model = new HazardModel(0.023) { GpuFamily = GpuFamily.A100 };
        model.RecordInterruption(new DateTimeOffset(2024, 3, 2, 10, 0, 0, TimeSpan.Zero));
        var json = System.Text.Encoding.UTF8.GetString(model.ToState().ToJson());
        Assert.That(json, Does.Contain("\"interruptions\": 1").And.Contain("\"gpuFamily\": \"A100\"").And.Contain("\"exposureHours\""));
    }
}
