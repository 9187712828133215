using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Checkpointing;

/// <summary>The options' callbacks and the limit on failures in a row.</summary>
public class CallbackTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Test]
    public async Task OnCommitted_sees_each_commit_before_CheckpointAsync_returns()
    {
        using var dir = new TempDirectory();
        var seen = new List<long>();
        using var job = new TinyTraining("sgd", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(new LocalFileStore(dir.Path),
            configure: o => o.OnCommitted = a => { lock (seen) seen.Add(a.Checkpoint.Step); return ValueTask.CompletedTask; }));
        for (long step = 1; step <= 2; step++)
        {
            job.TrainStep();
            ckpt.Step(step);
            await ckpt.CheckpointAsync();
        }
        Assert.That(seen, Is.EqualTo(new long[] { 1, 2 }));
    }

    [Test]
    public async Task OnPersistFailed_counts_failures_in_a_row_and_a_throwing_callback_changes_nothing()
    {
        using var dir = new TempDirectory();
        var counts = new List<int>();
        using var job = new TinyTraining("sgd", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(new ReadOnlyStore(dir.Path), configure: o =>
        {
            o.ProbeLocation = false;
            o.OnPersistFailed = a =>
            {
                lock (counts) counts.Add(a.ConsecutiveFailures);
                Assert.That(a.Error, Is.InstanceOf<IOException>());
                throw new InvalidOperationException("a callback bug");
            };
        }));
        for (long step = 1; step <= 2; step++)
        {
            job.TrainStep();
            ckpt.Step(step);
            Assert.That(async () => await ckpt.CheckpointAsync(), Throws.InstanceOf<CheckpointException>());
        }
        Assert.That(counts, Is.EqualTo(new[] { 1, 2 }));
        Assert.That(ckpt.Statistics.Failed, Is.EqualTo(2));
    }

    [Test]
    public async Task OnSkipped_is_told_why_a_due_checkpoint_was_skipped()
    {
        using var dir = new TempDirectory();
        var store = new GatedStore(dir.Path);
        var skipped = new TaskCompletionSource<CheckpointSkippedArguments>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var job = new TinyTraining("sgd", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(store, CheckpointPolicy.EverySteps(1), o =>
        {
            o.WhenBusy = BusyBehavior.Skip;
            o.OnSkipped = a => { skipped.TrySetResult(a); return ValueTask.CompletedTask; };
        }));
        job.TrainStep();
        Assert.That(ckpt.Step(1), Is.True);
        job.TrainStep();
        Assert.That(ckpt.Step(2), Is.False);
        var args = await skipped.Task.WaitAsync(Bound);
        store.Open();
        Assert.That(args.Step, Is.EqualTo(2));
        Assert.That(args.Reason, Does.Contain("Skip"));
    }

    [Test]
    public async Task After_MaxConsecutiveFailures_failed_checkpoints_Step_throws_a_typed_error()
    {
        using var dir = new TempDirectory();
        using var job = new TinyTraining("sgd", "step");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(new ReadOnlyStore(dir.Path), CheckpointPolicy.EverySteps(1),
            o => { o.ProbeLocation = false; o.MaxConsecutiveFailures = 2; }));
        for (long step = 1; step <= 2; step++)
        {
            job.TrainStep();
            ckpt.Step(step);
            await ckpt.FlushAsync();
        }
        job.TrainStep();
        var thrown = Assert.Throws<TooManyCheckpointFailuresException>(() => ckpt.Step(3));
        Assert.That(thrown!.Failures, Is.EqualTo(2));
        Assert.That(thrown.InnerException, Is.InstanceOf<IOException>());
    }

    [Test]
    public void MaxConsecutiveFailures_below_one_is_refused()
    {
        using var dir = new TempDirectory();
        Assert.That(() => new Checkpointer(new LocalFileStore(dir.Path), new CheckpointerOptions { MaxConsecutiveFailures = 0 }),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("MaxConsecutiveFailures"));
    }

    [Test]
    public async Task A_periodic_failure_logs_one_line_at_error_and_the_trace_only_at_debug()
    {
        using var dir = new TempDirectory();
        var log = new RecordingLogger();
        using var job = new TinyTraining("sgd", "step");
        var options = new CheckpointerOptions { RunId = "test", Policy = CheckpointPolicy.EverySteps(1), ProbeLocation = false };
        await using var ckpt = job.Attach(new Checkpointer(new ReadOnlyStore(dir.Path), options, log));
        job.TrainStep();
        ckpt.Step(1);
        await ckpt.FlushAsync();
        var errors = log.Entries.Where(e => e.Level == Microsoft.Extensions.Logging.LogLevel.Error).ToList();
        Assert.That(errors, Has.Count.EqualTo(1));
        Assert.That(errors[0].Exception, Is.Null, "no stack trace at Error");
        Assert.That(errors[0].Message, Does.Contain("read-only").And.Not.Contains("\n"));
        Assert.That(log.Entries.Any(e => e.Level == Microsoft.Extensions.Logging.LogLevel.Debug && e.Exception is IOException));
    }
}

/// <summary>Keeps every log entry with its level and exception.</summary>
internal sealed class RecordingLogger : Microsoft.Extensions.Logging.ILogger<Checkpointer>
{
    public System.Collections.Concurrent.ConcurrentQueue<(Microsoft.Extensions.Logging.LogLevel Level, string Message, Exception? Exception)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((logLevel, formatter(state, exception), exception));
}
