using Microsoft.Extensions.Time.Testing;
using SpotCheckpoint.Notices;

namespace SpotCheckpoint.Tests.Notices;

/// <summary>Fusing notices into one deadline.</summary>
public class NoticeHubTests
{
    private static TerminationNotice Notice(string provider, NoticeKind kind, double secondsLeft, string? id = null)
    {
        var now = DateTimeOffset.UtcNow;
        return new TerminationNotice(provider, kind, "x", now.AddSeconds(secondsLeft), now, id);
    }

    [Test]
    public async Task The_earliest_termination_deadline_wins_minus_the_safety_margin_and_never_moves_later()
    {
        await using var harness = new NoticeHarness(TimeSpan.FromSeconds(3));
        var hub = harness.Hub;
        Assert.That(hub.TerminationPending, Is.False);
        Assert.That(hub.Deadline, Is.Null);

        var aws = Notice("aws", NoticeKind.Termination, 120);
        hub.Raise(aws);
        Assert.That(hub.TerminationPending, Is.True);
        Assert.That(hub.Deadline, Is.EqualTo(aws.Deadline - TimeSpan.FromSeconds(3)));

        var signal = Notice("signal", NoticeKind.Termination, 30);
        hub.Raise(signal);
        Assert.That(hub.Termination, Is.EqualTo(signal));
        Assert.That(hub.Deadline, Is.EqualTo(signal.Deadline - TimeSpan.FromSeconds(3)));

        hub.Raise(Notice("azure", NoticeKind.Termination, 600, "e1"));
        Assert.That(hub.Termination, Is.EqualTo(signal), "a later deadline does not move it");
        Assert.That(hub.FirstTermination.Result, Is.EqualTo(aws));
    }

    [Test]
    public async Task Repeats_are_ignored_and_risk_or_informational_notices_are_not_terminations()
    {
        await using var harness = new NoticeHarness();
        var hub = harness.Hub;
        hub.Raise(Notice("aws", NoticeKind.Risk, 0));
        hub.Raise(Notice("azure", NoticeKind.Informational, 600, "freeze-1"));
        hub.Raise(Notice("azure", NoticeKind.Informational, 600, "freeze-1"));
        Assert.That(hub.TerminationPending, Is.False);
        Assert.That(hub.LatestRisk, Is.Not.Null);
        Assert.That(hub.History, Has.Count.EqualTo(2));
        Assert.That(harness.Received, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task A_custom_termination_request_is_a_notice_like_any_other()
    {
        await using var harness = new NoticeHarness(TimeSpan.Zero);
        harness.Hub.RequestTermination("scheduler says go", TimeSpan.FromSeconds(45));
        var notice = harness.Hub.Termination!;
        Assert.That(notice.Provider, Is.EqualTo(NoticeProviders.Custom));
        Assert.That(notice.Action, Is.EqualTo("scheduler says go"));
        Assert.That(notice.Window, Is.EqualTo(TimeSpan.FromSeconds(45)));
    }

    [Test]
    public async Task A_notice_with_time_to_spare_keeps_training_until_the_emergency_checkpoint_must_start()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 21, 8, 0, 0, TimeSpan.Zero));
        await using var harness = new NoticeHarness(TimeSpan.FromSeconds(5), time, null);
        var hub = harness.Hub;
        var now = time.GetUtcNow();
        var notice = new TerminationNotice("gcp", NoticeKind.Termination, "TERMINATE_ON_HOST_MAINTENANCE", now.AddHours(1), now);
        hub.Raise(notice);
        Assert.That(hub.Termination, Is.EqualTo(notice), "the notice is known at once");
        Assert.That(hub.Deadline, Is.EqualTo(notice.Deadline - TimeSpan.FromSeconds(5)));
        Assert.That(hub.TerminationPending, Is.False, "an hour is left: keep training");
        // The emergency checkpoint starts the lead time (2 min by default) before the deadline minus the margin.
        time.Advance(TimeSpan.FromHours(1) - TimeSpan.FromSeconds(5) - TimeSpan.FromMinutes(2) - TimeSpan.FromSeconds(1));
        Assert.That(hub.TerminationPending, Is.False);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(hub.TerminationPending, Is.True, "now the emergency checkpoint must start");
    }

    [Test]
    public async Task A_short_notice_or_a_termination_you_request_is_acted_on_at_once()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 21, 8, 0, 0, TimeSpan.Zero));
        await using (var harness = new NoticeHarness(TimeSpan.FromSeconds(5), time, null))
        {
            var now = time.GetUtcNow();
            harness.Hub.Raise(new TerminationNotice("azure", NoticeKind.Termination, "Preempt", now.AddSeconds(30), now, "p-1"));
            Assert.That(harness.Hub.TerminationPending, Is.True);
        }
        await using (var harness = new NoticeHarness(TimeSpan.FromSeconds(5), time, null))
        {
            harness.Hub.RequestTermination("host shutdown", TimeSpan.FromMinutes(10));
            Assert.That(harness.Hub.TerminationPending, Is.True, "you asked to stop: no waiting");
        }
    }

    [Test]
    public async Task A_source_that_throws_is_logged_and_the_others_go_on()
    {
        var good = new CallbackSource("good", async (context, ct) =>
        {
            await Task.Yield();
            var now = context.TimeProvider.GetUtcNow();
            context.Raise(new TerminationNotice("good", NoticeKind.Termination, "bye", now.AddSeconds(30), now));
        });
        await using var harness = new NoticeHarness(
            new CallbackSource("sync-throw", (_, _) => throw new InvalidOperationException("boom at start")),
            new CallbackSource("async-throw", async (_, _) => { await Task.Yield(); throw new InvalidOperationException("boom later"); }),
            good);
        await harness.WaitForNoticeAsync();
        await harness.WaitForLogAsync("async-throw stopped with an error");
        Assert.That(harness.Log.Messages.Any(m => m.Contains("sync-throw stopped with an error", StringComparison.Ordinal)));
    }

    /// <summary>A source made of a delegate.</summary>
    internal sealed class CallbackSource(string name, Func<NoticeContext, CancellationToken, Task> run) : INoticeSource
    {
        public string Name => name;

        public Task RunAsync(NoticeContext context, CancellationToken cancellationToken) => run(context, cancellationToken);
    }
}
