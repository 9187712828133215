using System.Text.Json;
using SpotCheckpoint.Format;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Tests;

/// <summary>
/// <c>spotckpt report</c> on every store: a run with periodic checkpoints, a termination notice answered by an
/// emergency checkpoint, a resume and a final checkpoint, most of it pruned by retention (KeepLast 2).
/// </summary>
[TestFixtureSource(typeof(TestStores), nameof(TestStores.Kinds))]
public sealed class ReportCommandTests(string kind)
{
    private const double OnDemand = 3.0;
    private const double Spot = 0.9;
    private StoreUnderTest _store = null!;

    [SetUp]
    public async Task SetUp()
    {
        _store = TestStores.Create(kind);
        await InterruptedRunAsync(_store.Root, "demo");
    }

    [TearDown]
    public void TearDown() => _store.Dispose();

    /// <summary>Steps 1-13 with checkpoints every 5 and a notice at step 13; then a resume that finishes at 22.</summary>
    internal static async Task InterruptedRunAsync(string root, string runId)
    {
        void Configure(CheckpointerOptions o)
        {
            o.RunId = runId;
            o.Policy = CheckpointPolicy.EverySteps(5);
            o.KeepLast = 2;
            o.Cost.OnDemandPerHour = OnDemand;
            o.Cost.SpotPerHour = Spot;
            o.Cost.Currency = "USD";
            o.Cost.InstanceType = "g5.xlarge";
            o.Cost.Region = "us-east-1";
        }
        using (var job = new TrainingRun())
        await using (var checkpointer = job.Attach(Checkpointer.Create(root, Configure)))
        {
            await checkpointer.ResumeAsync();
            for (long step = 1; step <= 13 && !checkpointer.StopRequested; step++)
            {
                job.TrainStep();
                if (step == 13) checkpointer.Notices.RequestTermination("test preemption", TimeSpan.FromMinutes(2));
                checkpointer.Step(step);
                await checkpointer.FlushAsync();
            }
            Assert.That(checkpointer.StopRequested, Is.True);
            Assert.That((await checkpointer.EmergencyCheckpoint!).Committed, Is.True);
        }
        using (var job = new TrainingRun())
        await using (var checkpointer = job.Attach(Checkpointer.Create(root, Configure)))
        {
            var resume = await checkpointer.ResumeAsync();
            Assert.That(resume.Step, Is.EqualTo(13));
            for (long step = 14; step <= 22; step++)
            {
                job.TrainStep();
                checkpointer.Step(step);
                await checkpointer.FlushAsync();
            }
            await checkpointer.CheckpointFinalAsync();
        }
    }

    [Test]
    public async Task The_report_counts_checkpoints_interruptions_and_cost_including_pruned_ones()
    {
        var html = Path.Combine(Path.GetTempPath(), $"report-{Guid.NewGuid():N}.html");
        try
        {
            var r = await Cli.JsonAsync("report", _store.RunUri("demo"), "--output", html);
            Assert.That(r.GetProperty("finalStep").GetInt64(), Is.EqualTo(22));
            Assert.That(r.GetProperty("completed").GetBoolean(), Is.True);
            var counts = r.GetProperty("checkpoints");
            Assert.That(counts.GetProperty("known").GetInt32(), Is.EqualTo(6), "5, 10, 13 (emergency), 15, 20, 22 (final)");
            Assert.That(counts.GetProperty("stored").GetInt32(), Is.EqualTo(2));
            Assert.That(counts.GetProperty("pruned").GetInt32(), Is.EqualTo(4));
            Assert.That(counts.GetProperty("byReason").GetProperty("emergency").GetInt32(), Is.EqualTo(1));
            Assert.That(counts.GetProperty("byReason").GetProperty("final").GetInt32(), Is.EqualTo(1));
            Assert.That(r.GetProperty("notSeen").EnumerateArray().Select(e => e.GetString()), Has.Some.Contains("4 checkpoint(s) are no longer stored"));

            var attempts = r.GetProperty("attempts").EnumerateArray().ToList();
            Assert.That(attempts.Select(a => a.GetProperty("ended").GetString()), Is.EqualTo(new[] { "notice", "completed" }));
            Assert.That(attempts[1].GetProperty("resumedFromStep").GetInt64(), Is.EqualTo(13));
            Assert.That(attempts[0].GetProperty("instanceType").GetString(), Is.EqualTo("g5.xlarge"));

            var interruption = r.GetProperty("interruptions").EnumerateArray().Single();
            Assert.That(interruption.GetProperty("kind").GetString(), Is.EqualTo("notice"));
            Assert.That(interruption.GetProperty("provider").GetString(), Is.EqualTo("custom"));
            Assert.That(interruption.GetProperty("lastStep").GetInt64(), Is.EqualTo(13));
            Assert.That(interruption.GetProperty("stepsLost").GetInt64(), Is.Zero);
            Assert.That(interruption.GetProperty("stepsLostExact").GetBoolean(), Is.True);

            var cost = r.GetProperty("cost");
            Assert.That(cost.GetProperty("priceSource").GetString(), Is.EqualTo("manifest"));
            Assert.That(cost.GetProperty("currency").GetString(), Is.EqualTo("USD"));
            double billed = cost.GetProperty("billedHours").GetDouble();
            Assert.That(billed, Is.EqualTo(attempts.Sum(a => a.GetProperty("billedHours").GetDouble())).Within(1e-12));
            Assert.That(cost.GetProperty("spotCost").GetDouble(), Is.EqualTo(Spot * billed).Within(1e-12));

            var page = await File.ReadAllTextAsync(html);
            Assert.That(System.Text.RegularExpressions.Regex.Count(page, "<figure class=\"chart\""), Is.EqualTo(5));
            Assert.That(page, Does.Not.Contain("http://").And.Not.Contain("https://").Or.Contain("xmlns=\"http://www.w3.org/2000/svg\""));
            Assert.That(System.Text.RegularExpressions.Regex.Matches(page, "(?:src|href)=\"https?:").Count, Is.Zero, "nothing is fetched");
        }
        finally
        {
            File.Delete(html);
        }
    }

    [Test]
    public async Task Prices_on_the_command_line_override_the_recorded_ones()
    {
        var r = await Cli.JsonAsync("report", _store.RunUri("demo"), "--on-demand-price", "10", "--spot-price", "2.5");
        var cost = r.GetProperty("cost");
        Assert.That(cost.GetProperty("priceSource").GetString(), Is.EqualTo("command line"));
        double billed = cost.GetProperty("billedHours").GetDouble(), useful = cost.GetProperty("usefulHours").GetDouble();
        Assert.That(cost.GetProperty("spotCost").GetDouble(), Is.EqualTo(2.5 * billed).Within(1e-12));
        Assert.That(cost.GetProperty("onDemandCost").GetDouble(), Is.EqualTo(10 * useful).Within(1e-12));
        Assert.That(cost.GetProperty("effectiveHourlyRate").GetDouble(), Is.EqualTo(2.5 * billed / useful).Within(1e-9));
        Assert.That(cost.GetProperty("projectedMonthlySavings").GetDouble(), Is.EqualTo((10 - 2.5 * billed / useful) * 730).Within(1e-6));
        Assert.That(cost.GetProperty("spotCostPer1000Steps").GetDouble(), Is.EqualTo(2.5 * billed / 22 * 1000).Within(1e-9));
    }

    [Test]
    public async Task Manifests_without_history_are_still_read_and_said_to_be_so()
    {
        // What a manifest written before the history existed looks like: the same document without "history".
        await using (var store = _store.Open())
        {
            var reader = await CheckpointReader.OpenAsync(store, "demo", 22);
            reader.Manifest.History = null;
            var key = StoreKeys.ManifestKey("demo", 22);
            await store.DeleteAsync(key);
            await store.CreateExclusiveAsync(key, ManifestCodec.Encode(reader.Manifest));
            Assert.That(System.Text.Encoding.UTF8.GetString(await Cli.ReadAllAsync(store, key)), Does.Not.Contain("\"history\""));
        }
        var r = await Cli.JsonAsync("report", _store.RunUri("demo"));
        Assert.That(r.GetProperty("checkpoints").GetProperty("withoutHistory").GetInt32(), Is.EqualTo(1));
        Assert.That(r.GetProperty("finalStep").GetInt64(), Is.EqualTo(22));
        Assert.That(r.GetProperty("notSeen").EnumerateArray().Select(e => e.GetString()), Has.Some.Contains("records no history"));
    }

    [Test]
    public async Task Without_an_output_the_verb_says_where_the_report_should_go()
    {
        var (exit, _, error) = await Cli.RunAsync("report", _store.RunUri("demo"));
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(error, Does.Contain("--output"));
    }
}
