using SpotCheckpoint.Notices;
using SpotCheckpoint.Notices.Aws;
using SpotCheckpoint.Tests.Notices.Fakes;

namespace SpotCheckpoint.Tests.Notices;

/// <summary>The AWS source against a fake IMDSv2 on 127.0.0.1, through every edge case of the notes.</summary>
public class AwsSpotNoticeTests
{
    private static AwsSpotNoticeSource Source(FakeImds imds, Action<AwsSpotNoticeOptions>? configure = null)
    {
        var options = new AwsSpotNoticeOptions
        {
            Endpoint = imds.Endpoint,
            PollInterval = TimeSpan.FromMilliseconds(50),
            // Generous: on a loaded 2-core machine a slow token PUT would otherwise read as "IMDSv2 unreachable",
            // which only the tests that make the PUT hang (with their own short timeout) are about.
            RequestTimeout = TimeSpan.FromSeconds(5),
            MaxBackoff = TimeSpan.FromMilliseconds(400),
        };
        configure?.Invoke(options);
        return new AwsSpotNoticeSource(options);
    }

    [Test]
    public async Task No_action_is_the_normal_404_and_raises_nothing_while_one_long_lived_token_is_reused()
    {
        await using var imds = new FakeImds();
        await using var harness = new NoticeHarness(Source(imds));
        await imds.WaitForRequestsAsync(r => r.Path.EndsWith("instance-action", StringComparison.Ordinal), 10);
        Assert.That(harness.Received, Is.Empty);
        Assert.That(harness.Hub.TerminationPending, Is.False);
        Assert.That(imds.TokenPuts, Is.EqualTo(1), "the token is long-lived and reused");
        Assert.That(imds.Requests.First(r => r.Method == "PUT").Header("X-aws-ec2-metadata-token-ttl-seconds"), Is.EqualTo("21600"));
        Assert.That(imds.Requests.Where(r => r.Method == "GET").All(r => r.Header("X-aws-ec2-metadata-token") is not null));
    }

    [TestCase(60)]     // the notice's own time is the earlier one
    [TestCase(600)]    // a far-off time: never more than two minutes from the notice
    [TestCase(-30)]    // a time in the past (failed termination): act on presence, at once
    public async Task An_instance_action_is_a_termination_with_deadline_min_of_its_time_and_seen_plus_120s(int timeOffsetSeconds)
    {
        await using var imds = new FakeImds();
        await using var harness = new NoticeHarness(Source(imds));
        var time = DateTimeOffset.UtcNow.AddSeconds(timeOffsetSeconds);
        imds.InstanceAction = FakeImds.Action("terminate", time);
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.Provider, Is.EqualTo("aws"));
        Assert.That(notice.Kind, Is.EqualTo(NoticeKind.Termination));
        Assert.That(notice.Action, Is.EqualTo("terminate"));
        var expected = (timeOffsetSeconds <= 120 ? time : notice.SeenAt.AddSeconds(120));
        Assert.That(notice.Deadline, Is.EqualTo(expected).Within(TimeSpan.FromSeconds(1)));
        Assert.That(harness.Hub.TerminationPending, Is.True);
        Assert.That(harness.Hub.Deadline, Is.EqualTo(notice.Deadline - TimeSpan.FromSeconds(5)), "minus the safety margin");
    }

    [TestCase("stop")]
    [TestCase("hibernate")]
    public async Task Stop_and_hibernate_are_terminations_too_even_pretty_printed(string action)
    {
        await using var imds = new FakeImds();
        await using var harness = new NoticeHarness(Source(imds));
        imds.InstanceAction = $"{{\n  \"action\" : \"{action}\",\n  \"time\" : \"{DateTimeOffset.UtcNow.AddMinutes(2):yyyy-MM-ddTHH:mm:ssZ}\"\n}}\n";
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.Action, Is.EqualTo(action));
        Assert.That(notice.Kind, Is.EqualTo(NoticeKind.Termination));
    }

    [Test]
    public async Task An_expired_token_gets_401_then_one_new_PUT_and_the_poll_goes_on()
    {
        await using var imds = new FakeImds();
        await using var harness = new NoticeHarness(Source(imds));
        await imds.WaitForRequestsAsync(r => r.Path.EndsWith("instance-action", StringComparison.Ordinal), 3);
        // Counted before the expiry: the poller can meet the 401 and send its new PUT before the next line runs.
        int before = imds.TokenPuts;
        imds.ExpireTokens();
        await imds.WaitForRequestsAsync(r => r.Method == "PUT", before + 1);
        imds.InstanceAction = FakeImds.Action("terminate", DateTimeOffset.UtcNow.AddMinutes(2));
        await harness.WaitForNoticeAsync();
        Assert.That(imds.TokenPuts, Is.EqualTo(before + 1), "exactly one re-PUT for one expiry");
        Assert.That(harness.Log.Messages.Any(m => m.Contains("retrying", StringComparison.Ordinal)), Is.False, "a 401 from expiry is not a failure");
    }

    [Test]
    public async Task A_token_PUT_that_times_out_is_IMDSv2_unreachable_no_notice_no_crash_and_a_log_line_that_says_why()
    {
        await using var imds = new FakeImds { TokenPutHangs = true, V1Enabled = true };
        imds.InstanceAction = FakeImds.Action("terminate", DateTimeOffset.UtcNow.AddMinutes(2));
        await using var harness = new NoticeHarness(Source(imds, o => o.RequestTimeout = TimeSpan.FromMilliseconds(200)));
        await harness.WaitForLogAsync("hop limit");
        await imds.WaitForRequestsAsync(r => r.Method == "PUT", 2);
        Assert.That(harness.Received, Is.Empty, "IMDSv1 was not allowed");
        Assert.That(imds.ActionPolls, Is.Zero);
    }

    [TestCase(0)]
    [TestCase(403)]
    [TestCase(405)]
    public async Task With_IMDSv1_allowed_an_unreachable_IMDSv2_falls_back_and_still_sees_the_notice(int putStatus)
    {
        await using var imds = new FakeImds { TokenPutHangs = putStatus == 0, TokenPutStatus = putStatus == 0 ? null : putStatus, V1Enabled = true };
        await using var harness = new NoticeHarness(Source(imds, o => { o.AllowImdsV1 = true; o.RequestTimeout = TimeSpan.FromMilliseconds(200); }));
        imds.InstanceAction = FakeImds.Action("terminate", DateTimeOffset.UtcNow.AddMinutes(2));
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.Kind, Is.EqualTo(NoticeKind.Termination));
        Assert.That(imds.Requests.Where(r => r.Method == "GET").All(r => r.Header("X-aws-ec2-metadata-token") is null));
    }

    [TestCase("")]
    [TestCase("<html>captive portal</html>")]
    [TestCase("{\"action\": \"reboot\"}")]
    [TestCase("[1, 2]")]
    public async Task An_empty_or_garbage_200_never_raises_a_termination_and_a_real_notice_later_still_does(string garbage)
    {
        await using var imds = new FakeImds();
        await using var harness = new NoticeHarness(Source(imds));
        imds.InstanceAction = garbage;
        await imds.WaitForRequestsAsync(r => r.Path.EndsWith("instance-action", StringComparison.Ordinal), 5);
        Assert.That(harness.Received, Is.Empty);
        Assert.That(harness.Log.Messages.Any(m => m.Contains("not a notice", StringComparison.Ordinal)));
        imds.InstanceAction = FakeImds.Action("terminate", DateTimeOffset.UtcNow.AddMinutes(2));
        await harness.WaitForNoticeAsync();
    }

    [Test]
    public async Task Throttling_429_503_and_dropped_connections_back_off_with_growing_gaps_then_recover()
    {
        await using var imds = new FakeImds();
        await using var harness = new NoticeHarness(Source(imds, o => o.MaxBackoff = TimeSpan.FromSeconds(2)));
        await imds.WaitForRequestsAsync(r => r.Path.EndsWith("instance-action", StringComparison.Ordinal), 2);
        imds.InjectNext(FakeReply.Respond(429), 2, "instance-action");
        imds.InjectNext(FakeReply.Respond(503), 1, "instance-action");
        imds.InjectNext(new FakeReply.Drop(), 1, "instance-action");
        int before = imds.ActionPolls;
        await imds.WaitForRequestsAsync(r => r.Path.EndsWith("instance-action", StringComparison.Ordinal), before + 5);
        imds.InstanceAction = FakeImds.Action("terminate", DateTimeOffset.UtcNow.AddMinutes(2));
        await harness.WaitForNoticeAsync();
        Assert.That(harness.Log.Messages.Any(m => m.Contains("429", StringComparison.Ordinal) && m.Contains("retrying", StringComparison.Ordinal)));
        Assert.That(harness.Received.Count(n => n.Kind == NoticeKind.Termination), Is.EqualTo(1), "no false termination from the failures");
    }

    [Test]
    public async Task An_unreachable_endpoint_never_raises_and_never_throws()
    {
        await using var harness = new NoticeHarness(new AwsSpotNoticeSource(new AwsSpotNoticeOptions
        {
            Endpoint = FakeHttpServer.ClosedEndpoint(),
            PollInterval = TimeSpan.FromMilliseconds(20),
            MaxBackoff = TimeSpan.FromMilliseconds(100),
        }));
        await harness.WaitForLogAsync("retrying", count: 3); // three failed polls (repeats are logged at 1, 2, 4, …)
        Assert.That(harness.Received, Is.Empty);
        Assert.That(harness.Log.Messages.Any(m => m.Contains("stopped with an error", StringComparison.Ordinal)), Is.False);
    }

    [Test]
    public async Task A_rebalance_recommendation_is_a_risk_signal_not_a_termination()
    {
        await using var imds = new FakeImds();
        await using var harness = new NoticeHarness(Source(imds));
        imds.Rebalance = """{"noticeTime": "2020-10-27T08:22:00Z"}""";
        var risk = await harness.WaitForNoticeAsync();
        Assert.That(risk.Kind, Is.EqualTo(NoticeKind.Risk));
        Assert.That(risk.Deadline, Is.EqualTo(DateTimeOffset.Parse("2020-10-27T08:22:00Z", System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(harness.Hub.TerminationPending, Is.False);
        Assert.That(harness.Hub.LatestRisk, Is.EqualTo(risk));
        // Both at once: the two-minute notice still ends the run.
        imds.InstanceAction = FakeImds.Action("terminate", DateTimeOffset.UtcNow.AddMinutes(2));
        await harness.WaitForNoticeAsync(n => n.Kind == NoticeKind.Termination);
    }

    [Test]
    public async Task A_system_maintenance_event_is_a_risk_signal_raised_once_with_its_start_as_the_time()
    {
        await using var imds = new FakeImds();
        await using var harness = new NoticeHarness(Source(imds, o => o.MaintenancePollInterval = TimeSpan.FromMilliseconds(50)));
        // The documented shape: a JSON array, dates in "21 Jan 2019 09:00:43 GMT" form; completed and canceled
        // entries are history, not a coming event.
        imds.ScheduledMaintenance = """
            [ {
              "NotBefore" : "21 Jan 2030 09:00:43 GMT",
              "Code" : "system-maintenance",
              "Description" : "scheduled network maintenance",
              "EventId" : "instance-event-0d59937288b749b32",
              "NotAfter" : "21 Jan 2030 09:17:23 GMT",
              "State" : "active"
            }, {
              "NotBefore" : "2 Feb 2019 10:00:00 GMT", "Code" : "instance-stop", "EventId" : "instance-event-old",
              "State" : "completed"
            } ]
            """;
        var risk = await harness.WaitForNoticeAsync();
        Assert.That(risk.Kind, Is.EqualTo(NoticeKind.Risk));
        Assert.That(risk.Action, Is.EqualTo("maintenance:system-maintenance"));
        Assert.That(risk.EventId, Is.EqualTo("instance-event-0d59937288b749b32"));
        Assert.That(risk.Deadline, Is.EqualTo(new DateTimeOffset(2030, 1, 21, 9, 0, 43, TimeSpan.Zero)));
        Assert.That(harness.Hub.TerminationPending, Is.False, "a scheduled event is days ahead: checkpoint soon, keep training");

        int polls = imds.Count(r => r.Path.EndsWith("maintenance/scheduled", StringComparison.Ordinal));
        await imds.WaitForRequestsAsync(r => r.Path.EndsWith("maintenance/scheduled", StringComparison.Ordinal), polls + 3);
        Assert.That(harness.Received.Count(n => n.Action.StartsWith("maintenance:", StringComparison.Ordinal)), Is.EqualTo(1), "raised once, not per poll");
    }

    [TestCase("instance-stop")]
    [TestCase("instance-retirement")]
    [TestCase("instance-reboot")]
    [TestCase("system-reboot")]
    public async Task A_scheduled_event_that_stops_reboots_or_retires_the_instance_is_a_termination_at_NotBefore(string code)
    {
        await using var imds = new FakeImds();
        var notBefore = DateTimeOffset.UtcNow.AddMinutes(30);
        imds.ScheduledMaintenance = $$"""
            [{"NotBefore": "{{notBefore.UtcDateTime.ToString("d MMM yyyy HH:mm:ss 'GMT'", System.Globalization.CultureInfo.InvariantCulture)}}",
              "Code": "{{code}}", "EventId": "instance-event-{{code}}", "State": "active", "Description": "scheduled"}]
            """;
        await using var harness = new NoticeHarness(Source(imds, o => o.MaintenancePollInterval = TimeSpan.FromMilliseconds(50)));
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.Kind, Is.EqualTo(NoticeKind.Termination), code + " ends the training process");
        Assert.That(notice.Deadline, Is.EqualTo(notBefore).Within(TimeSpan.FromSeconds(1)));
        Assert.That(harness.Hub.Termination, Is.EqualTo(notice));
        Assert.That(harness.Hub.TerminationPending, Is.False, "half an hour is left: training goes on until the emergency checkpoint must start");
    }

    [Test]
    public async Task System_maintenance_stays_a_risk_signal()
    {
        await using var imds = new FakeImds { ScheduledMaintenance = """[{"Code": "system-maintenance", "EventId": "e-sm", "NotBefore": "1 Mar 2030 00:00:00 GMT", "State": "active"}]""" };
        await using var harness = new NoticeHarness(Source(imds, o => o.MaintenancePollInterval = TimeSpan.FromMilliseconds(50)));
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.Kind, Is.EqualTo(NoticeKind.Risk));
        Assert.That(harness.Hub.Termination, Is.Null);
    }

    [Test]
    public async Task AWS_EC2_METADATA_DISABLED_turns_the_source_and_the_probe_off()
    {
        await using var imds = new FakeImds();
        var saved = Environment.GetEnvironmentVariable("AWS_EC2_METADATA_DISABLED");
        Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "true");
        try
        {
            await using (var harness = new NoticeHarness(Source(imds)))
                await harness.WaitForLogAsync("AWS_EC2_METADATA_DISABLED");
            var detection = new CloudDetectionOptions { ProbeTimeout = TimeSpan.FromMilliseconds(700) };
            detection.Aws.Endpoint = imds.Endpoint;
            detection.Gcp.Endpoint = FakeHttpServer.ClosedEndpoint();
            detection.Azure.Endpoint = FakeHttpServer.ClosedEndpoint();
            Assert.That(await CloudDetector.DetectAsync(detection), Is.Null);
            Assert.That(imds.Requests, Is.Empty, "nothing is sent to the metadata service");
        }
        finally
        {
            Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", saved);
        }
    }

    [TestCase(503)]
    [TestCase(429)]
    public async Task A_failing_maintenance_poll_never_slows_the_instance_action_poll_down(int status)
    {
        await using var imds = new FakeImds { ScheduledMaintenanceStatus = status };
        // A generous request timeout: on a loaded machine a slow reply must not pass for the backoff this test looks for.
        await using var harness = new NoticeHarness(Source(imds, o => { o.MaintenancePollInterval = TimeSpan.FromMilliseconds(10); o.RequestTimeout = TimeSpan.FromSeconds(10); }));
        await imds.WaitForRequestsAsync(r => r.Path.EndsWith("maintenance/scheduled", StringComparison.Ordinal), 5);
        Assert.That(harness.Received, Is.Empty);
        Assert.That(harness.Log.Messages.Any(m => m.Contains("retrying", StringComparison.Ordinal)), Is.False, "no backoff for the main poll");
        imds.InstanceAction = FakeImds.Action("terminate", DateTimeOffset.UtcNow.AddMinutes(2));
        Assert.That((await harness.WaitForNoticeAsync()).Kind, Is.EqualTo(NoticeKind.Termination));
    }

    [Test]
    public async Task Scheduled_maintenance_can_be_left_unwatched()
    {
        await using var imds = new FakeImds { ScheduledMaintenance = """[{"Code": "instance-retirement", "EventId": "e-1", "NotBefore": "1 Mar 2030 00:00:00 GMT"}]""" };
        await using var harness = new NoticeHarness(Source(imds, o => o.WatchScheduledMaintenance = false));
        await imds.WaitForRequestsAsync(r => r.Path.EndsWith("instance-action", StringComparison.Ordinal), 5);
        Assert.That(imds.Count(r => r.Path.EndsWith("maintenance/scheduled", StringComparison.Ordinal)), Is.Zero);
        Assert.That(harness.Received, Is.Empty);
    }

    [TestCase("[]", 0)]
    [TestCase("""[{"Code": "instance-retirement", "NotBefore": "1 Mar 2030 00:00:00 GMT"}]""", 1)]
    [TestCase("""[{"Code": "instance-stop", "EventId": "e", "State": "canceled"}, {"EventId": "no-code"}, 7]""", 0)]
    public void Maintenance_documents_are_parsed_to_the_events_still_to_come(string body, int expected)
    {
        Assert.That(AwsSpotNoticeSource.TryParseMaintenance(body, out var events), Is.True);
        Assert.That(events, Has.Count.EqualTo(expected));
        if (expected == 1)
        {
            Assert.That(events[0].Id, Is.EqualTo("instance-retirement@1 Mar 2030 00:00:00 GMT"), "without an EventId, code and start identify it");
            Assert.That(events[0].NotBefore, Is.EqualTo(new DateTimeOffset(2030, 3, 1, 0, 0, 0, TimeSpan.Zero)));
        }
    }

    [TestCase("")]
    [TestCase("{}")]
    [TestCase("[{")]
    public void A_maintenance_body_that_is_not_a_JSON_array_is_refused(string body) =>
        Assert.That(AwsSpotNoticeSource.TryParseMaintenance(body, out _), Is.False);

    [Test]
    public async Task The_standard_variable_names_the_endpoint()
    {
        await using var imds = new FakeImds();
        var saved = Environment.GetEnvironmentVariable(AwsSpotNoticeOptions.EndpointVariable);
        Environment.SetEnvironmentVariable(AwsSpotNoticeOptions.EndpointVariable, imds.Endpoint.AbsoluteUri.TrimEnd('/'));
        try
        {
            Assert.That(new AwsSpotNoticeOptions().ResolveEndpoint(), Is.EqualTo(imds.Endpoint));
            Assert.That(new AwsSpotNoticeOptions { Endpoint = new Uri("http://127.0.0.9:1") }.ResolveEndpoint().Port, Is.EqualTo(1), "the option wins");
        }
        finally
        {
            Environment.SetEnvironmentVariable(AwsSpotNoticeOptions.EndpointVariable, saved);
        }
    }
}
