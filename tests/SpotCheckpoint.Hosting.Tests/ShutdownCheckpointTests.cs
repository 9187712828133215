using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Hosting.Tests;

/// <summary>
/// A real generic host running a TorchSharp training loop as a BackgroundService: stopping the host commits a
/// checkpoint of the step reached before StopAsync returns, and a second host resumes from it.
/// </summary>
public sealed class ShutdownCheckpointTests
{
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDirectory();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private IHost BuildHost(TrainingProbe probe, DelayedCommitStore store, LogRecords? logs = null, TimeSpan? shutdownTimeout = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["SpotCheckpoint:RunId"] = "hosted",
            ["SpotCheckpoint:Policy:Kind"] = "Steps",
            ["SpotCheckpoint:Policy:Steps"] = "1000000", // only the emergency checkpoint
            ["SpotCheckpoint:Notices:Cloud"] = "None",
        };
        var builder = TestHosts.Builder(settings, logs);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdownTimeout ?? TimeSpan.FromSeconds(60));
        builder.Services.AddSpotCheckpoint(builder.Configuration).UseStore(_ => store);
        builder.Services.AddSingleton(probe);
        builder.Services.AddHostedService<TinyTrainingService>();
        return builder.Build();
    }

    [Test]
    public async Task Stopping_the_host_commits_a_checkpoint_of_the_step_reached_and_a_new_host_resumes_from_it()
    {
        // A slow commit: without the hosting holding the shutdown, StopAsync would return before the manifest exists.
        var store = new DelayedCommitStore(_dir.Path) { CommitDelay = TimeSpan.FromSeconds(1) };
        var first = new TrainingProbe();
        using (var host = BuildHost(first, store))
        {
            await host.StartAsync();
            await first.WaitForStepAsync(5);

            await host.StopAsync();

            // Checked before the container (and the checkpointer in it) is disposed.
            await first.Finished.Task;
            var listed = await CheckpointCatalog.ListAsync(store, "hosted");
            Assert.That(listed.Select(l => l.Step), Is.EqualTo(new[] { first.FinalStep!.Value }), "one checkpoint, of the step the loop stopped at");
            Assert.That(first.FinalStep, Is.GreaterThanOrEqualTo(5));
            var emergency = await host.Services.GetRequiredService<Checkpointer>().EmergencyCheckpoint!;
            Assert.That(emergency.Committed, Is.True);
            Assert.That(emergency.Notice.Action, Is.EqualTo("host shutdown"));
        }

        var second = new TrainingProbe { MaxSteps = 0 }; // resume only
        using (var host = BuildHost(second, new DelayedCommitStore(_dir.Path)))
        {
            await host.StartAsync();
            await second.Finished.Task.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.That(second.ResumedFrom, Is.EqualTo(first.FinalStep));
            Assert.That(second.StateSha256, Is.EqualTo(first.StateSha256), "the resumed state is bit-identical");
            await host.StopAsync();
        }
    }

    [Test]
    public async Task A_commit_that_outlasts_the_shutdown_timeout_does_not_hang_the_host()
    {
        var store = new DelayedCommitStore(_dir.Path) { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var probe = new TrainingProbe();
        var logs = new LogRecords();
        using var host = BuildHost(probe, store, logs, shutdownTimeout: TimeSpan.FromSeconds(2));
        try
        {
            await host.StartAsync();
            await probe.WaitForStepAsync(3);

            var clock = Stopwatch.StartNew();
            await host.StopAsync();
            clock.Stop();

            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(20)));
            Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1.5)), "the host waited for the commit until its timeout");
            Assert.That(logs.All.Any(r => r.Id.Id == 305 && r.Message.Contains("shutdown timeout ran out", StringComparison.Ordinal)), Is.True,
                "the timeout is logged as a warning naming the settings to raise");
        }
        finally
        {
            store.Gate.SetResult(); // let the checkpointer finish while the container is disposed
        }
    }

    [Test]
    public async Task The_shutdown_wait_is_logged_with_the_committed_step()
    {
        var store = new DelayedCommitStore(_dir.Path) { CommitDelay = TimeSpan.FromMilliseconds(300) };
        var probe = new TrainingProbe();
        var logs = new LogRecords();
        using var host = BuildHost(probe, store, logs);
        await host.StartAsync();
        await probe.WaitForStepAsync(2);
        await host.StopAsync();

        var committed = logs.All.Where(r => r.Id.Id == 303).Select(r => r.Message).ToList();
        Assert.That(committed, Has.Count.EqualTo(1));
        Assert.That(committed[0], Does.Contain($"at step {probe.FinalStep} committed"));
        Assert.That(logs.All.Any(r => r.Id.Id == 301), Is.True, "the shutdown notice is logged");
    }
}
