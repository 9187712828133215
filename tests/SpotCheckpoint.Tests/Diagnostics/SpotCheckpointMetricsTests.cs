using Microsoft.Extensions.Time.Testing;
using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Tests.Checkpointing;

namespace SpotCheckpoint.Tests.Diagnostics;

public class SpotCheckpointMetricsTests
{
    [Test]
    public async Task A_checkpointer_records_stalls_persists_bytes_and_commits()
    {
        using var metrics = new SpotCheckpointMetrics();
        using var collector = new MetricsCollector(metrics.Meter);
        using var dir = new TempDirectory();
        using var job = new TinyTraining("adam", "step");
        await using (var ckpt = job.Attach(TinyTraining.NewCheckpointer(new LocalFileStore(dir.Path), CheckpointPolicy.EverySteps(2), o => o.Metrics = metrics)))
        {
            for (long step = 1; step <= 4; step++) { job.TrainStep(); ckpt.Step(step); }
            await ckpt.FlushAsync();
            var stats = ckpt.Statistics;
            Assert.That(collector.Sum("spotcheckpoint.checkpoint.committed"), Is.EqualTo(2));
            Assert.That(collector.Of("spotcheckpoint.checkpoint.stall.duration"), Has.Count.EqualTo(2));
            Assert.That(collector.Of("spotcheckpoint.checkpoint.stall.duration")[^1].Value, Is.EqualTo(stats.LastStall.TotalSeconds).Within(1e-9));
            Assert.That(collector.Of("spotcheckpoint.checkpoint.stall.duration")[0].Unit, Is.EqualTo("s"));
            Assert.That(collector.Of("spotcheckpoint.checkpoint.persist.duration"), Has.Count.EqualTo(2));
            Assert.That(collector.Of("spotcheckpoint.checkpoint.bytes")[^1].Value, Is.EqualTo(stats.LastBytes));
            Assert.That(collector.Of("spotcheckpoint.checkpoint.bytes")[0].Unit, Is.EqualTo("By"));
            Assert.That(collector.Of("spotcheckpoint.checkpoint.persist.throughput").All(m => m.Value > 0), Is.True);
        }
        Assert.That(SpotCheckpointMetrics.Shared.Meter.Name, Is.EqualTo("SpotCheckpoint"));
    }

    [Test]
    public async Task Skipped_and_failed_checkpoints_are_counted()
    {
        using var metrics = new SpotCheckpointMetrics();
        using var collector = new MetricsCollector(metrics.Meter);
        using var dir = new TempDirectory();
        var store = new GatedStore(dir.Path);
        using var job = new TinyTraining("sgd", "step");
        await using (var ckpt = job.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(1),
            o => { o.WhenBusy = BusyBehavior.Skip; o.Metrics = metrics; })))
        {
            job.TrainStep();
            ckpt.Step(1);
            job.TrainStep();
            ckpt.Step(2); // the first one still persists
            store.Open();
            await ckpt.FlushAsync();
        }
        var skipped = collector.Of("spotcheckpoint.checkpoint.skipped");
        Assert.That(skipped, Has.Count.EqualTo(1));
        Assert.That(skipped[0].Tags["spotcheckpoint.skip.reason"], Is.EqualTo("busy"));

        Directory.CreateDirectory(Path.Combine(dir.Path, "blocked"));
        await using (var ckpt = job.Attach(TinyTraining.NewCheckpointer(new ReadOnlyStore(Path.Combine(dir.Path, "blocked")), CheckpointPolicy.Manual, o => { o.Metrics = metrics; o.ProbeLocation = false; })))
        {
            Assert.That(async () => await ckpt.CheckpointAsync(), Throws.InstanceOf<CheckpointException>());
        }
        var failed = collector.Of("spotcheckpoint.checkpoint.failed");
        Assert.That(failed, Has.Count.EqualTo(1));
        Assert.That(failed[0].Tags["error.type"], Is.EqualTo(typeof(IOException).FullName));
    }

    [Test]
    public void Notices_latencies_and_lost_steps_carry_their_tags()
    {
        using var metrics = new SpotCheckpointMetrics();
        using var collector = new MetricsCollector(metrics.Meter);
        metrics.RecordNotice("aws", "risk");
        metrics.RecordNotice("aws", "termination");
        metrics.RecordNoticeToCommit("aws", TimeSpan.FromSeconds(12.5));
        metrics.RecordInterruption(stepsLost: 0, provider: "aws");
        metrics.RecordInterruption(stepsLost: 140);

        var notices = collector.Of("spotcheckpoint.notice.received");
        Assert.That(notices.Select(n => n.Tags["spotcheckpoint.notice.kind"]), Is.EqualTo(new[] { "risk", "termination" }));
        Assert.That(notices.All(n => (string?)n.Tags["spotcheckpoint.notice.provider"] == "aws"), Is.True);
        Assert.That(collector.Of("spotcheckpoint.notice.commit.duration").Single().Value, Is.EqualTo(12.5));
        Assert.That(collector.Of("spotcheckpoint.interruption.steps_lost").Select(m => m.Value), Is.EqualTo(new[] { 0.0, 140.0 }));
        Assert.That(collector.Of("spotcheckpoint.interruption.steps_lost")[1].Tags["spotcheckpoint.notice.provider"], Is.EqualTo("none"));
    }

    [Test]
    public void Savings_are_estimated_once_prices_are_set()
    {
        var time = new FakeTimeProvider();
        using var metrics = new SpotCheckpointMetrics(timeProvider: time);
        using var collector = new MetricsCollector(metrics.Meter);
        Assert.That(metrics.EstimatedSavings, Is.Null);
        Assert.That(collector.Of("spotcheckpoint.cost.savings"), Is.Empty, "nothing is reported without prices");

        metrics.SetPrices(onDemandPerHour: 4, spotPerHour: 1.2);
        time.Advance(TimeSpan.FromHours(10));
        metrics.RecordInterruption(stepsLost: 600, lostWork: TimeSpan.FromMinutes(30));
        metrics.RecordStall(TimeSpan.FromMinutes(30));
        // 9 useful hours at 4, against 10 paid hours at 1.2.
        Assert.That(metrics.EstimatedSavings, Is.EqualTo(4 * 9 - 1.2 * 10).Within(1e-9));
        Assert.That(collector.Of("spotcheckpoint.cost.savings")[^1].Value, Is.EqualTo(24).Within(1e-9));
    }
}
