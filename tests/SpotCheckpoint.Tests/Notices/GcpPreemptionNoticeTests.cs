using SpotCheckpoint.Notices;
using SpotCheckpoint.Notices.Gcp;
using SpotCheckpoint.Tests.Notices.Fakes;

namespace SpotCheckpoint.Tests.Notices;

/// <summary>The GCP source against a fake metadata server on 127.0.0.1 that long-polls like the real one.</summary>
public class GcpPreemptionNoticeTests
{
    private static GcpPreemptionNoticeSource Source(FakeGcpMetadata gcp, Action<GcpPreemptionNoticeOptions>? configure = null)
    {
        var options = new GcpPreemptionNoticeOptions
        {
            Endpoint = gcp.Endpoint,
            LongPollTimeout = TimeSpan.FromSeconds(1),
            RequestTimeout = TimeSpan.FromMilliseconds(500),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
        };
        configure?.Invoke(options);
        return new GcpPreemptionNoticeSource(options);
    }

    [Test]
    public async Task It_reads_both_keys_then_long_polls_with_the_etag_and_the_flavor_header()
    {
        await using var gcp = new FakeGcpMetadata();
        await using var harness = new NoticeHarness(Source(gcp));
        await gcp.WaitForRequestsAsync(r => r.QueryValue("wait_for_change") == "true" && r.Path.EndsWith("preempted", StringComparison.Ordinal));
        var requests = gcp.Requests;
        Assert.That(requests.All(r => r.Header("Metadata-Flavor") == "Google"));
        Assert.That(requests.Any(r => r.Path.EndsWith("maintenance-event", StringComparison.Ordinal) && r.QueryValue("wait_for_change") is null),
            "maintenance-event is read at start: its warning is only given to a process that read it");
        var poll = requests.First(r => r.QueryValue("wait_for_change") == "true");
        Assert.That(poll.QueryValue("last_etag"), Is.Not.Empty);
        Assert.That(poll.QueryValue("timeout_sec"), Is.EqualTo("1"));
        Assert.That(harness.Received, Is.Empty);
    }

    [Test]
    public async Task Long_polls_that_come_back_unchanged_raise_nothing()
    {
        await using var gcp = new FakeGcpMetadata();
        await using var harness = new NoticeHarness(Source(gcp));
        await gcp.WaitForRequestsAsync(r => r.QueryValue("wait_for_change") == "true" && r.Path.EndsWith("preempted", StringComparison.Ordinal), 3);
        Assert.That(harness.Received, Is.Empty);
        Assert.That(harness.Log.Messages.Where(m => m.StartsWith("Warning", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public async Task Preemption_during_a_long_poll_is_seen_at_once_with_a_30_second_deadline()
    {
        await using var gcp = new FakeGcpMetadata();
        await using var harness = new NoticeHarness(Source(gcp, o => o.LongPollTimeout = TimeSpan.FromSeconds(30)));
        await gcp.WaitForRequestsAsync(r => r.QueryValue("wait_for_change") == "true" && r.Path.EndsWith("preempted", StringComparison.Ordinal));
        var set = DateTimeOffset.UtcNow;
        gcp.Set("instance/preempted", "TRUE");
        var notice = await harness.WaitForNoticeAsync(timeoutSeconds: 5);
        Assert.That(notice.SeenAt - set, Is.LessThan(TimeSpan.FromSeconds(2)), "the long-poll answers at the change, not after timeout_sec");
        Assert.That(notice.Provider, Is.EqualTo("gcp"));
        Assert.That(notice.Kind, Is.EqualTo(NoticeKind.Termination));
        Assert.That(notice.Window, Is.EqualTo(TimeSpan.FromSeconds(30)));
    }

    [Test]
    public async Task Terminate_on_host_maintenance_is_a_termination_and_migration_is_not()
    {
        await using var gcp = new FakeGcpMetadata();
        await using var harness = new NoticeHarness(Source(gcp));
        await gcp.WaitForRequestsAsync(r => r.QueryValue("wait_for_change") == "true" && r.Path.EndsWith("maintenance-event", StringComparison.Ordinal));
        gcp.Set("instance/maintenance-event", "MIGRATE_ON_HOST_MAINTENANCE");
        var migrate = await harness.WaitForNoticeAsync();
        Assert.That(migrate.Kind, Is.EqualTo(NoticeKind.Informational));
        Assert.That(harness.Hub.TerminationPending, Is.False);
        gcp.Set("instance/maintenance-event", "NONE");
        gcp.Set("instance/maintenance-event", "TERMINATE_ON_HOST_MAINTENANCE");
        var terminate = await harness.WaitForNoticeAsync(n => n.Kind == NoticeKind.Termination);
        Assert.That(terminate.Window, Is.EqualTo(TimeSpan.FromSeconds(60)));
    }

    [TestCase("projects/123456/machineTypes/a2-highgpu-1g")]
    [TestCase("projects/123456/machineTypes/g2-standard-8")]
    [TestCase("projects/123456/machineTypes/a3-highgpu-8g")]
    public async Task On_a_GPU_VM_terminate_on_host_maintenance_gives_an_hour_and_training_goes_on(string machineType)
    {
        await using var gcp = new FakeGcpMetadata();
        gcp.Set("instance/machine-type", machineType);
        await using var harness = new NoticeHarness(Source(gcp));
        await gcp.WaitForRequestsAsync(r => r.QueryValue("wait_for_change") == "true" && r.Path.EndsWith("maintenance-event", StringComparison.Ordinal));
        gcp.Set("instance/maintenance-event", "TERMINATE_ON_HOST_MAINTENANCE");
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.Kind, Is.EqualTo(NoticeKind.Termination));
        Assert.That(notice.Window, Is.EqualTo(TimeSpan.FromHours(1)), "GPU VMs get a one-hour stopping notice");
        Assert.That(harness.Hub.TerminationPending, Is.False, "nearly an hour of training is left before the emergency checkpoint must start");
    }

    [Test]
    public async Task Attached_guest_accelerators_make_an_n1_VM_a_GPU_VM()
    {
        await using var gcp = new FakeGcpMetadata();
        gcp.Set("instance/machine-type", "projects/123456/machineTypes/n1-standard-8");
        gcp.Set("instance/guest-accelerators", """[{"acceleratorCount": 1, "acceleratorType": "nvidia-tesla-t4"}]""");
        await using var harness = new NoticeHarness(Source(gcp));
        await gcp.WaitForRequestsAsync(r => r.QueryValue("wait_for_change") == "true" && r.Path.EndsWith("maintenance-event", StringComparison.Ordinal));
        gcp.Set("instance/maintenance-event", "TERMINATE_ON_HOST_MAINTENANCE");
        Assert.That((await harness.WaitForNoticeAsync()).Window, Is.EqualTo(TimeSpan.FromHours(1)));
    }

    [Test]
    public async Task Upcoming_maintenance_sets_the_deadline_when_its_window_starts_within_the_notice()
    {
        await using var gcp = new FakeGcpMetadata();
        gcp.Set("instance/machine-type", "projects/123456/machineTypes/a2-highgpu-1g");
        var windowStart = DateTimeOffset.UtcNow.AddMinutes(20);
        gcp.Set("instance/upcoming-maintenance", $$"""
            {"can_reschedule": false, "maintenance_status": "ONGOING", "type": "SCHEDULED",
             "window_start_time": "{{windowStart.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}}",
             "window_end_time": "{{windowStart.AddHours(4).UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}}"}
            """);
        await using var harness = new NoticeHarness(Source(gcp));
        await gcp.WaitForRequestsAsync(r => r.QueryValue("wait_for_change") == "true" && r.Path.EndsWith("maintenance-event", StringComparison.Ordinal));
        gcp.Set("instance/maintenance-event", "TERMINATE_ON_HOST_MAINTENANCE");
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.Deadline, Is.EqualTo(windowStart).Within(TimeSpan.FromSeconds(1)));
    }

    [TestCase("STANDARD", true)]
    [TestCase("SPOT", false)]
    public async Task A_preemptible_VM_gets_a_termination_notice_ahead_of_its_24_hour_limit(string provisioningModel, bool limited)
    {
        await using var gcp = new FakeGcpMetadata();
        gcp.Set("instance/scheduling/preemptible", "TRUE");
        gcp.Set("instance/scheduling/provisioning-model", provisioningModel);
        var time = new TimerWatchingTimeProvider();
        var started = time.GetUtcNow() - TimeSpan.FromHours(23);
        await using var harness = new NoticeHarness(TimeSpan.FromSeconds(5), time, null, Source(gcp, o =>
        {
            o.InstanceStartedAt = started;
            o.WatchMaintenanceEvents = false;
            o.LongPollTimeout = TimeSpan.FromSeconds(30);
        }));
        await gcp.WaitForRequestsAsync(r => r.Path.EndsWith("scheduling/provisioning-model", StringComparison.Ordinal));
        if (!limited)
        {
            await gcp.WaitForRequestsAsync(r => r.QueryValue("wait_for_change") == "true");
            Assert.That(harness.Log.Messages.Any(m => m.Contains("preemptible VM started", StringComparison.Ordinal)), Is.False, "Spot VMs have no 24-hour limit");
            return;
        }
        await harness.WaitForLogAsync("preemptible VM started");
        var wait = TimeSpan.FromMinutes(45); // to 24 h minus the 15 min lead
        await time.WaitUntilTimerAsync(d => d == wait);
        Assert.That(harness.Received, Is.Empty);
        time.Advance(wait);
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.Kind, Is.EqualTo(NoticeKind.Termination));
        Assert.That(notice.Action, Is.EqualTo("preemptible-24h-limit"));
        Assert.That(notice.Deadline, Is.EqualTo(started + TimeSpan.FromHours(24)));
        Assert.That(harness.Hub.TerminationPending, Is.False, "15 min left: training goes on until the emergency checkpoint must start");
        time.Advance(TimeSpan.FromMinutes(13));
        Assert.That(harness.Hub.TerminationPending, Is.True);
    }

    [Test]
    public async Task A_503_during_maintenance_is_retried_with_backoff()
    {
        await using var gcp = new FakeGcpMetadata();
        gcp.InjectNext(FakeReply.Respond(503), 3, "preempted");
        await using var harness = new NoticeHarness(Source(gcp));
        await harness.WaitForLogAsync("503");
        gcp.Set("instance/preempted", "TRUE");
        await harness.WaitForNoticeAsync();
    }

    [Test]
    public async Task A_server_without_the_Google_flavor_header_or_with_garbage_never_raises()
    {
        await using var gcp = new FakeGcpMetadata { OmitFlavorHeader = true };
        await using var harness = new NoticeHarness(Source(gcp));
        gcp.Set("instance/preempted", "TRUE");
        await harness.WaitForLogAsync("not a GCP metadata server");
        Assert.That(harness.Received, Is.Empty);

        await using var garbage = new FakeGcpMetadata();
        await using var second = new NoticeHarness(Source(garbage));
        garbage.Set("instance/preempted", "<html>oops</html>");
        await second.WaitForLogAsync("not a notice");
        Assert.That(second.Received, Is.Empty);
        garbage.Set("instance/preempted", "TRUE");
        await second.WaitForNoticeAsync();
    }

    [Test]
    public async Task GCE_METADATA_HOST_is_host_and_port()
    {
        var saved = Environment.GetEnvironmentVariable(GcpPreemptionNoticeOptions.HostVariable);
        Environment.SetEnvironmentVariable(GcpPreemptionNoticeOptions.HostVariable, "127.0.0.1:8089");
        try
        {
            Assert.That(new GcpPreemptionNoticeOptions().ResolveEndpoint(), Is.EqualTo(new Uri("http://127.0.0.1:8089/")));
        }
        finally
        {
            Environment.SetEnvironmentVariable(GcpPreemptionNoticeOptions.HostVariable, saved);
        }
    }
}
