using Microsoft.Extensions.Time.Testing;
using SpotCheckpoint.Format;
using SpotCheckpoint.Notices;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Tests.Checkpointing;

namespace SpotCheckpoint.Tests.Diagnostics;

/// <summary>Each manifest carries the run's history: attempts, and every committed checkpoint with why and how long.</summary>
public class RunHistoryTests
{
    private static Checkpointer New(ICheckpointStore store, TimeProvider time) =>
        new(store, new CheckpointerOptions
        {
            RunId = "history",
            Policy = CheckpointPolicy.EverySteps(2),
            Cost = { OnDemandPerHour = 4.1, SpotPerHour = 1.3, Currency = "USD", InstanceType = "g6.xlarge", Region = "eu-west-1", Zone = "eu-west-1b" },
        }, timeProvider: time);

    [Test]
    public async Task Manifests_record_reasons_notices_timings_sizes_and_the_lineage_across_a_resume()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        using (var job = new TinyTraining("adamw", "onecycle"))
        {
            await using var ckpt = job.Attach(New(store, time));
            await ckpt.ResumeAsync();
            for (long step = 1; step <= 5; step++)
            {
                job.TrainStep();
                time.Advance(TimeSpan.FromSeconds(1));
                if (step == 3) ckpt.Notices.Raise(new TerminationNotice("aws", NoticeKind.Risk, "rebalance", time.GetUtcNow().AddMinutes(10), time.GetUtcNow()));
                if (step == 5) ckpt.Notices.Raise(new TerminationNotice("aws", NoticeKind.Termination, "terminate", time.GetUtcNow().AddMinutes(2), time.GetUtcNow(), "evt-1", "payload-marker-x7"));
                ckpt.Step(step);
                await ckpt.FlushAsync();
            }
            Assert.That((await ckpt.EmergencyCheckpoint!).Committed, Is.True);
        }
        var emergency = (await CheckpointReader.OpenAsync(store, "history", 5)).Manifest.History!;
        Assert.That(emergency.Checkpoints.Select(c => (c.Step, c.Reason)), Is.EqualTo(new[] { (2L, "periodic"), (4L, "risk"), (5L, "emergency") }));
        var notice = emergency.Checkpoints[^1].Notice!;
        Assert.That((notice.Provider, notice.Kind, notice.Action, notice.Id), Is.EqualTo(("aws", "termination", "terminate", "evt-1")));
        Assert.That(notice.DeadlineUtc, Is.EqualTo(new DateTimeOffset(2026, 12, 1, 8, 2, 5, TimeSpan.Zero)));
        Assert.That(emergency.Checkpoints[1].Notice!.Kind, Is.EqualTo("risk"));
        var attempt = emergency.Attempts.Single();
        Assert.That((attempt.InstanceType, attempt.Region, attempt.Zone, attempt.ResumedFromStep), Is.EqualTo(("g6.xlarge", "eu-west-1", "eu-west-1b", (long?)null)));
        Assert.That((attempt.Prices!.OnDemandPerHour, attempt.Prices.SpotPerHour, attempt.Prices.Currency), Is.EqualTo(((double?)4.1, (double?)1.3, "USD")));
        Assert.That(attempt.StartedUtc, Is.EqualTo(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero)));
        Assert.That(attempt.ProcessStartUtc, Is.LessThanOrEqualTo(DateTimeOffset.UtcNow));

        using (var job = new TinyTraining("adamw", "onecycle"))
        {
            await using var ckpt = job.Attach(New(store, time));
            Assert.That((await ckpt.ResumeAsync()).Step, Is.EqualTo(5));
            job.TrainStep();
            time.Advance(TimeSpan.FromSeconds(1));
            ckpt.Step(6);
            await ckpt.FlushAsync();
            job.TrainStep();
            ckpt.Step(7);
            await ckpt.CheckpointFinalAsync();
        }
        var final = await CheckpointReader.OpenAsync(store, "history", 7);
        var history = final.Manifest.History!;
        Assert.That(history.Checkpoints.Select(c => (c.Step, c.Reason)),
            Is.EqualTo(new[] { (2L, "periodic"), (4L, "risk"), (5L, "emergency"), (6L, "periodic"), (7L, "final") }), "the lineage continues across the resume");
        Assert.That(history.Attempts, Has.Count.EqualTo(2));
        Assert.That(history.Attempts[1].ResumedFromStep, Is.EqualTo(5));
        Assert.That(history.Checkpoints[^1].Attempt, Is.EqualTo(history.Attempts[1].Id).And.Not.EqualTo(history.Attempts[0].Id));
        var own = history.Checkpoints[^1];
        Assert.That(own.Bytes, Is.EqualTo(final.Manifest.Shards.Sum(s => s.Bytes)));
        Assert.That(own.StallSeconds, Is.GreaterThan(0));
        Assert.That(own.PersistSeconds, Is.GreaterThan(0));
        Assert.That(own.DeviceStallSeconds, Is.Null, "CPU state: no device copies");
        Assert.That(own.CommittedUtc, Is.EqualTo(time.GetUtcNow()));
        var raw = System.Text.Encoding.UTF8.GetString(await File.ReadAllBytesAsync(Path.Combine(dir.Path, "history", "step-00000005", "manifest.json")));
        Assert.That(raw, Does.Not.Contain("payload-marker-x7"), "notice payloads stay out of manifests");
    }

    [Test]
    public void A_bad_price_is_refused_naming_the_option()
    {
        var options = new CheckpointerOptions { Cost = { SpotPerHour = double.NaN } };
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new Checkpointer(new LocalFileStore(Path.GetTempPath()), options));
        Assert.That(ex!.Message, Does.Contain("Cost.SpotPerHour"));
    }
}
