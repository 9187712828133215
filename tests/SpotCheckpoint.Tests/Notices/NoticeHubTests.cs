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
    public async Task A_source_that_throws_is_logged_and_the_others_go_on()
    {
        var good = new CallbackSource("good", async (context, ct) =>
        {
            await Task.Delay(50, ct);
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
