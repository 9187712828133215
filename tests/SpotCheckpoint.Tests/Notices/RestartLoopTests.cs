using Microsoft.Extensions.Time.Testing;
using SpotCheckpoint.Notices;
using SpotCheckpoint.Notices.Aws;
using SpotCheckpoint.Notices.Azure;
using SpotCheckpoint.Notices.Gcp;
using SpotCheckpoint.Tests.Notices.Fakes;

namespace SpotCheckpoint.Tests.Notices;

/// <summary>
/// A process restarted on a machine whose notice still stands: the notice the last checkpoint was taken for is
/// recognised by its stable id and not acted on again (no start / exit 75 loop); any other notice still is.
/// </summary>
public class RestartLoopTests
{
    private static readonly DateTimeOffset Start = new(2030, 1, 21, 8, 0, 0, TimeSpan.Zero);

    private static TerminationNotice Notice(FakeTimeProvider time, string id, double secondsLeft = 30) =>
        new("azure", NoticeKind.Termination, "Preempt", time.GetUtcNow().AddSeconds(secondsLeft), time.GetUtcNow(), id) { Id = "azure:" + id };

    [Test]
    public async Task A_notice_marked_handled_is_logged_and_not_acted_on_and_another_one_still_is()
    {
        var time = new FakeTimeProvider(Start);
        await using var harness = new NoticeHarness(TimeSpan.FromSeconds(5), time, hub => hub.MarkHandled(["azure:evict-1"]));
        harness.Hub.Raise(Notice(time, "evict-1"));
        Assert.That(harness.Hub.TerminationPending, Is.False, "its checkpoint is the one this run resumed from");
        Assert.That(harness.Hub.Termination, Is.Null);
        Assert.That(harness.Received, Is.Empty, "not a new notice for the checkpointer (no interruption counted twice)");
        Assert.That(harness.Log.Messages.Any(m => m.Contains("already handled", StringComparison.Ordinal) && m.Contains("azure:evict-1", StringComparison.Ordinal)));
        Assert.That(harness.Hub.HandledNoticeIds, Is.EqualTo(new[] { "azure:evict-1" }), "still standing: recorded again with the next checkpoint");

        harness.Hub.Raise(Notice(time, "evict-2"));
        Assert.That(harness.Hub.TerminationPending, Is.True, "a different event is acted on");
        Assert.That(harness.Hub.HandledNoticeIds, Is.EqualTo(new[] { "azure:evict-1", "azure:evict-2" }));
    }

    [Test]
    public async Task Marking_after_the_sources_started_takes_back_a_standing_notice_not_yet_acted_on()
    {
        var time = new FakeTimeProvider(Start);
        await using var harness = new NoticeHarness(TimeSpan.FromSeconds(5), time, null);
        harness.Hub.Raise(Notice(time, "early")); // read before the resumed manifest was
        harness.Hub.Raise(new TerminationNotice("aws", NoticeKind.Termination, "maintenance:instance-stop", time.GetUtcNow().AddHours(2), time.GetUtcNow()) { Id = "aws:scheduled:e-9" });
        harness.Hub.MarkHandled(["azure:early"]);
        Assert.That(harness.Hub.Termination!.Id, Is.EqualTo("aws:scheduled:e-9"), "the other notice stands");
        Assert.That(harness.Hub.TerminationPending, Is.False, "two hours left on the other one");
        Assert.That(harness.Hub.HandledNoticeIds, Is.EqualTo(new[] { "azure:early" }));
        Assert.That(harness.Log.Messages.Any(m => m.Contains("already handled", StringComparison.Ordinal)));
    }

    [Test]
    public async Task Only_notices_the_emergency_checkpoint_answered_are_recorded_as_handled()
    {
        var time = new FakeTimeProvider(Start);
        await using var harness = new NoticeHarness(TimeSpan.FromSeconds(5), time, null);
        harness.Hub.Raise(Notice(time, "far", secondsLeft: 3600));
        Assert.That(harness.Hub.TerminationPending, Is.False);
        Assert.That(harness.Hub.HandledNoticeIds, Is.Empty, "a checkpoint written now is not yet the emergency one: a crash now must act on it again");
        time.Advance(TimeSpan.FromMinutes(59));
        Assert.That(harness.Hub.TerminationPending, Is.True);
        Assert.That(harness.Hub.HandledNoticeIds, Is.EqualTo(new[] { "azure:far" }));
    }

    [Test]
    public async Task A_marked_id_that_shows_up_long_after_the_start_is_a_new_event()
    {
        var time = new FakeTimeProvider(Start);
        await using var harness = new NoticeHarness(TimeSpan.FromSeconds(5), time, hub => hub.MarkHandled(["azure:reused"]));
        time.Advance(TimeSpan.FromMinutes(16));
        harness.Hub.Raise(Notice(time, "reused"));
        Assert.That(harness.Hub.TerminationPending, Is.True, "a standing notice is read at the start; one appearing later is new");
    }

    [Test]
    public async Task The_expected_checkpoint_time_moves_the_emergency_start_earlier_when_it_is_longer_than_the_lead()
    {
        var time = new FakeTimeProvider(Start);
        await using var harness = new NoticeHarness(TimeSpan.FromSeconds(5), time, hub => hub.CheckpointDurationEstimate = () => TimeSpan.FromMinutes(10));
        var notice = Notice(time, "slow-store", secondsLeft: 3600);
        harness.Hub.Raise(notice);
        Assert.That(harness.Hub.EmergencyStartsAt, Is.EqualTo(notice.Deadline - TimeSpan.FromSeconds(5) - TimeSpan.FromMinutes(10)));
        time.Advance(TimeSpan.FromMinutes(49));
        Assert.That(harness.Hub.TerminationPending, Is.False);
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.That(harness.Hub.TerminationPending, Is.True);
    }

    /// <summary>
    /// Runs a first "process" against the standing notice until its emergency checkpoint is due and takes the ids
    /// it would record; then a second one, told those ids, reads the same standing notice.
    /// </summary>
    private static async Task<NoticeHarness> RestartAsync(Func<INoticeSource> source)
    {
        IReadOnlyList<string> handled;
        await using (var first = new NoticeHarness(source()))
        {
            await first.WaitForNoticeAsync(n => n.Kind == NoticeKind.Termination);
            Assert.That(first.Hub.TerminationPending, Is.True);
            handled = first.Hub.HandledNoticeIds;
        }
        Assert.That(handled, Is.Not.Empty);
        var second = new NoticeHarness(TimeSpan.FromSeconds(5), null, hub => hub.MarkHandled(handled), source());
        await second.WaitForLogAsync("already handled");
        Assert.That(second.Hub.TerminationPending, Is.False, "no second exit for the same notice");
        Assert.That(second.Hub.HandledNoticeIds, Is.EqualTo(handled));
        return second;
    }

    [Test]
    public async Task A_restarted_process_under_the_same_AWS_instance_action_keeps_training()
    {
        await using var imds = new FakeImds { InstanceAction = FakeImds.Action("terminate", DateTimeOffset.UtcNow.AddSeconds(-30)) };
        await using var second = await RestartAsync(() => new AwsSpotNoticeSource(new AwsSpotNoticeOptions
            { Endpoint = imds.Endpoint, PollInterval = TimeSpan.FromMilliseconds(50), RequestTimeout = TimeSpan.FromMilliseconds(500) }));
        Assert.That(second.Hub.HandledNoticeIds.Single(), Does.StartWith("aws:instance-action:terminate:"));
    }

    [Test]
    public async Task A_restarted_process_under_the_same_Azure_event_keeps_training()
    {
        await using var azure = new FakeAzureImds();
        azure.AddEvent("evict-standing", "Preempt", [azure.VmName, "neighbour"], DateTimeOffset.UtcNow.AddSeconds(30));
        await using var second = await RestartAsync(() => AzureScheduledEventsTests.Source(azure));
        Assert.That(second.Hub.HandledNoticeIds, Is.EqualTo(new[] { "azure:evict-standing" }));
    }

    [Test]
    public async Task A_restarted_process_under_the_same_GCP_host_maintenance_keeps_training()
    {
        await using var gcp = new FakeGcpMetadata();
        gcp.Set("instance/maintenance-event", "TERMINATE_ON_HOST_MAINTENANCE");
        await using var second = await RestartAsync(() => new GcpPreemptionNoticeSource(new GcpPreemptionNoticeOptions
            { Endpoint = gcp.Endpoint, LongPollTimeout = TimeSpan.FromSeconds(1), RequestTimeout = TimeSpan.FromMilliseconds(500) }));
        Assert.That(second.Hub.HandledNoticeIds.Single(), Does.StartWith("gcp:maintenance:"));
    }
}
