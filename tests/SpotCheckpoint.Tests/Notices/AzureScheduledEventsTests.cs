using SpotCheckpoint.Notices;
using SpotCheckpoint.Notices.Azure;
using SpotCheckpoint.Tests.Notices.Fakes;

namespace SpotCheckpoint.Tests.Notices;

/// <summary>The Azure source against a fake IMDS Scheduled Events endpoint on 127.0.0.1.</summary>
public class AzureScheduledEventsTests
{
    internal static AzureScheduledEventsSource Source(FakeAzureImds azure, Action<AzureScheduledEventsOptions>? configure = null)
    {
        var options = new AzureScheduledEventsOptions
        {
            Endpoint = azure.Endpoint,
            PollInterval = TimeSpan.FromMilliseconds(50),
            RequestTimeout = TimeSpan.FromMilliseconds(500),
            FirstRequestTimeout = TimeSpan.FromSeconds(5),
            MaxBackoff = TimeSpan.FromMilliseconds(400),
        };
        configure?.Invoke(options);
        return new AzureScheduledEventsSource(options);
    }

    [Test]
    public async Task Events_for_other_VMs_are_ignored_and_a_Preempt_for_this_VM_ends_at_NotBefore()
    {
        await using var azure = new FakeAzureImds();
        await using var harness = new NoticeHarness(Source(azure));
        await azure.WaitForRequestsAsync(r => r.Path == "/metadata/scheduledevents", 2);
        Assert.That(azure.Requests.All(r => r.Header("Metadata") == "true"));
        azure.AddEvent("other-1", "Preempt", ["other-vm"], DateTimeOffset.UtcNow.AddSeconds(30));
        int polls = azure.EventPolls;
        await azure.WaitForRequestsAsync(r => r.Path == "/metadata/scheduledevents", polls + 3);
        Assert.That(harness.Received, Is.Empty, "another VM's event");

        var notBefore = DateTimeOffset.UtcNow.AddSeconds(40);
        azure.AddEvent("mine-1", "Preempt", ["other-vm", "TRAINER-VM-7"], notBefore);
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.Provider, Is.EqualTo("azure"));
        Assert.That(notice.Kind, Is.EqualTo(NoticeKind.Termination));
        Assert.That(notice.EventId, Is.EqualTo("mine-1"));
        Assert.That(notice.Deadline, Is.EqualTo(notBefore).Within(TimeSpan.FromSeconds(1)), "NotBefore, to the second (RFC 1123)");
    }

    [Test]
    public async Task Freeze_is_informational_never_an_emergency()
    {
        await using var azure = new FakeAzureImds();
        await using var harness = new NoticeHarness(Source(azure));
        azure.AddEvent("e-freeze", "Freeze", [azure.VmName], DateTimeOffset.UtcNow.AddMinutes(10));
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.Kind, Is.EqualTo(NoticeKind.Informational));
        Assert.That(harness.Hub.Termination, Is.Null);
    }

    [TestCase("Reboot")]
    [TestCase("Redeploy")]
    [TestCase("Terminate")]
    public async Task Reboot_Redeploy_and_Terminate_end_the_process_so_they_are_terminations_at_NotBefore(string type)
    {
        await using var azure = new FakeAzureImds();
        await using var harness = new NoticeHarness(Source(azure));
        var notBefore = DateTimeOffset.UtcNow.AddSeconds(40);
        azure.AddEvent("e-" + type, type, [azure.VmName], notBefore);
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.Kind, Is.EqualTo(NoticeKind.Termination), "the training process does not survive a " + type);
        Assert.That(notice.Action, Is.EqualTo(type));
        Assert.That(notice.Deadline, Is.EqualTo(notBefore).Within(TimeSpan.FromSeconds(1)));
        Assert.That(harness.Hub.Termination, Is.EqualTo(notice));
    }

    [Test]
    public async Task An_event_that_lists_this_VM_alone_is_approved_after_the_checkpoint()
    {
        await using var azure = new FakeAzureImds();
        await using var harness = new NoticeHarness(Source(azure));
        azure.AddEvent("alone-1", "Preempt", [azure.VmName], DateTimeOffset.UtcNow.AddSeconds(30));
        await harness.WaitForNoticeAsync();
        Assert.That(await harness.Hub.AcknowledgeAsync(CancellationToken.None), Is.True);
        Assert.That(azure.Approved, Is.EqualTo(new[] { "alone-1" }));
    }

    [Test]
    public async Task An_event_that_also_lists_a_neighbour_is_not_approved_because_approval_would_start_it_for_them_too()
    {
        await using var azure = new FakeAzureImds();
        await using var harness = new NoticeHarness(Source(azure));
        azure.AddEvent("shared-1", "Preempt", [azure.VmName, "neighbour-vm"], DateTimeOffset.UtcNow.AddSeconds(30));
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.Kind, Is.EqualTo(NoticeKind.Termination), "still this VM's eviction");
        Assert.That(await harness.Hub.AcknowledgeAsync(CancellationToken.None), Is.False);
        Assert.That(azure.Approved, Is.Empty);
        Assert.That(azure.Requests.Any(r => r.Method == "POST"), Is.False);
        await harness.WaitForLogAsync("neighbour-vm");
    }

    [Test]
    public async Task Approving_a_shared_event_is_an_opt_in()
    {
        await using var azure = new FakeAzureImds();
        await using var harness = new NoticeHarness(Source(azure, o => o.ApproveEventsListingOtherVms = true));
        azure.AddEvent("shared-2", "Terminate", [azure.VmName, "neighbour-vm"], DateTimeOffset.UtcNow.AddSeconds(30));
        await harness.WaitForNoticeAsync();
        Assert.That(await harness.Hub.AcknowledgeAsync(CancellationToken.None), Is.True);
        Assert.That(azure.Approved, Is.EqualTo(new[] { "shared-2" }));
    }

    [Test]
    public async Task The_same_EventId_across_new_DocumentIncarnations_is_one_notice_and_a_Started_event_without_NotBefore_gets_30_s()
    {
        await using var azure = new FakeAzureImds();
        await using var harness = new NoticeHarness(Source(azure));
        azure.AddEvent("t-1", "Terminate", [azure.VmName], null, status: "Started");
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.Window, Is.EqualTo(TimeSpan.FromSeconds(30)));
        for (int i = 0; i < 3; i++)
        {
            azure.Touch();
            int polls = azure.EventPolls;
            await azure.WaitForRequestsAsync(r => r.Path == "/metadata/scheduledevents", polls + 2);
        }
        Assert.That(harness.Received, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_slow_first_call_and_410_429_500_replies_are_waited_out()
    {
        await using var azure = new FakeAzureImds { FirstCallDelay = TimeSpan.FromSeconds(1.5) };
        azure.InjectNext(FakeReply.Respond(410), 1, "scheduledevents");
        azure.InjectNext(FakeReply.Respond(429), 1, "scheduledevents");
        azure.InjectNext(FakeReply.Respond(500), 1, "scheduledevents");
        azure.InjectNext(FakeReply.Respond(200, "{\"DocumentIncarnation\": "), 1, "scheduledevents");
        await using var harness = new NoticeHarness(Source(azure));
        azure.AddEvent("p-1", "Preempt", [azure.VmName], DateTimeOffset.UtcNow.AddSeconds(30));
        await harness.WaitForNoticeAsync();
        Assert.That(harness.Log.Messages.Count(m => m.Contains("retrying", StringComparison.Ordinal)), Is.GreaterThanOrEqualTo(3));
        Assert.That(harness.Log.Messages.Any(m => m.Contains("not a notice", StringComparison.Ordinal)), "the truncated document is logged, not acted on");
    }

    [Test]
    public async Task The_start_request_names_the_event()
    {
        Assert.That(AzureScheduledEventsSource.StartRequest("602d9444-d2cd-49c7-8624-8643e7171297"),
            Is.EqualTo("""{"StartRequests":[{"EventId":"602d9444-d2cd-49c7-8624-8643e7171297"}]}"""));
        await Task.CompletedTask;
    }
}
