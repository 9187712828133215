using Microsoft.Extensions.Time.Testing;
using SpotCheckpoint.Format;
using SpotCheckpoint.Notices;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Tests.Checkpointing;

namespace SpotCheckpoint.Tests.Notices;

/// <summary>
/// The checkpointer end to end against a notice that outlives a restart: the emergency checkpoint records the
/// notice's id in its manifest, and the process resumed from it reads the same standing notice without acting on it
/// again (no restart loop); training goes on.
/// </summary>
public class HandledNoticeResumeTests
{
    private static readonly DateTimeOffset Start = new(2030, 1, 21, 8, 0, 0, TimeSpan.Zero);

    /// <summary>A source that reports the same standing eviction every time it starts, then says so.</summary>
    private sealed class StandingEviction(DateTimeOffset deadline, TimeProvider time) : INoticeSource
    {
        public TaskCompletionSource Raised { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Name => "standing-eviction";

        public Task RunAsync(NoticeContext context, CancellationToken cancellationToken)
        {
            context.Raise(new TerminationNotice("azure", NoticeKind.Termination, "Preempt", deadline, time.GetUtcNow(), "evict-7") { Id = "azure:evict-7" });
            Raised.TrySetResult();
            return Task.CompletedTask;
        }
    }

    private static Checkpointer New(ICheckpointStore store, INoticeSource source, ListLogger log, TimeProvider time)
    {
        var options = new CheckpointerOptions { RunId = "restart", Policy = CheckpointPolicy.Manual };
        options.Notices.SafetyMargin = TimeSpan.Zero;
        options.Notices.Sources.Add(source);
        return new Checkpointer(store, options, log, time);
    }

    [Test]
    public async Task A_resumed_run_does_not_act_again_on_the_notice_its_checkpoint_was_taken_for()
    {
        using var dir = new TempDirectory();
        var store = new LocalFileStore(dir.Path);
        var time = new FakeTimeProvider(Start);
        var deadline = Start.AddSeconds(20); // well inside the lead time: the emergency checkpoint is due at once

        using (var job = new TinyTraining("adamw", "onecycle"))
        {
            var source = new StandingEviction(deadline, time);
            await using var ckpt = job.Attach(New(store, source, new ListLogger(), time));
            await ckpt.ResumeAsync();
            await source.Raised.Task;
            job.TrainStep();
            Assert.That(ckpt.Step(1), Is.True, "the first process acts on the notice");
            Assert.That(ckpt.StopRequested, Is.True);
            Assert.That((await ckpt.EmergencyCheckpoint!).Committed, Is.True);
        }
        var manifest = (await CheckpointReader.OpenAsync(store, "restart", 1)).Manifest;
        Assert.That(manifest.HandledNotices, Is.EqualTo(new[] { "azure:evict-7" }), "the emergency checkpoint records the notice it answered");

        using (var job = new TinyTraining("adamw", "onecycle"))
        {
            var source = new StandingEviction(deadline, time);
            var log = new ListLogger();
            time.Advance(TimeSpan.FromSeconds(5)); // the restart: the notice still stands
            await using var ckpt = job.Attach(New(store, source, log, time));
            Assert.That((await ckpt.ResumeAsync()).Step, Is.EqualTo(1));
            await source.Raised.Task;
            job.TrainStep();
            Assert.That(ckpt.Step(2), Is.False, "no second emergency checkpoint for the same notice");
            Assert.That(ckpt.StopRequested, Is.False, "training goes on");
            Assert.That(ckpt.EmergencyCheckpoint, Is.Null);
            Assert.That(ckpt.Notices.TerminationPending, Is.False);
            Assert.That(log.Messages.Any(m => m.Contains("already handled", StringComparison.Ordinal) && m.Contains("azure:evict-7", StringComparison.Ordinal)));

            await ckpt.CheckpointAsync();
        }
        var next = (await CheckpointReader.OpenAsync(store, "restart", 2)).Manifest;
        Assert.That(next.HandledNotices, Is.EqualTo(new[] { "azure:evict-7" }), "still standing: recorded again, so a further restart recognises it too");
    }
}
