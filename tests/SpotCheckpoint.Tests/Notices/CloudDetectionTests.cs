using SpotCheckpoint.Notices;
using SpotCheckpoint.Tests.Notices.Fakes;

namespace SpotCheckpoint.Tests.Notices;

/// <summary>Auto-detection, with every probe pointed at 127.0.0.1: a fake, a closed port or a server that never answers.</summary>
public class CloudDetectionTests
{
    private static CloudDetectionOptions Options(Uri aws, Uri gcp, Uri azure)
    {
        var o = new CloudDetectionOptions { ProbeTimeout = TimeSpan.FromMilliseconds(700) };
        o.Aws.Endpoint = aws;
        o.Gcp.Endpoint = gcp;
        o.Azure.Endpoint = azure;
        return o;
    }

    [Test]
    public async Task Each_cloud_is_recognised_by_its_own_metadata_service_and_nothing_else()
    {
        await using var imds = new FakeImds();
        await using var gcp = new FakeGcpMetadata();
        await using var azure = new FakeAzureImds();
        var closed = FakeHttpServer.ClosedEndpoint();
        Assert.That(await CloudDetector.DetectAsync(Options(imds.Endpoint, closed, closed)), Is.EqualTo("aws"));
        Assert.That(await CloudDetector.DetectAsync(Options(closed, gcp.Endpoint, closed)), Is.EqualTo("gcp"));
        Assert.That(await CloudDetector.DetectAsync(Options(closed, closed, azure.Endpoint)), Is.EqualTo("azure"));
        // Each fake pointed at the other probes is not mistaken for them.
        Assert.That(await CloudDetector.DetectAsync(Options(gcp.Endpoint, azure.Endpoint, imds.Endpoint)), Is.Null);
    }

    [Test]
    public async Task Off_cloud_detection_ends_within_the_probe_timeout_even_when_an_address_never_answers()
    {
        await using var silent = new FakeImds { TokenPutHangs = true };
        await using var hanging = new FakeAzureImds();
        hanging.InjectNext(new FakeReply.Hang(), 10);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.That(await CloudDetector.DetectAsync(Options(silent.Endpoint, FakeHttpServer.ClosedEndpoint(), hanging.Endpoint)), Is.Null);
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
    }

    [Test]
    public async Task The_auto_source_watches_the_cloud_it_found()
    {
        await using var azure = new FakeAzureImds();
        var options = Options(FakeHttpServer.ClosedEndpoint(), FakeHttpServer.ClosedEndpoint(), azure.Endpoint);
        options.Azure.PollInterval = TimeSpan.FromMilliseconds(50);
        await using var harness = new NoticeHarness(new CloudAutoDetectSource(options));
        await harness.WaitForLogAsync("detected azure");
        azure.AddEvent("p-9", "Preempt", [azure.VmName], DateTimeOffset.UtcNow.AddSeconds(30));
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.Provider, Is.EqualTo("azure"));
    }

    [Test]
    public async Task With_IMDSv1_allowed_the_probe_finds_AWS_when_the_token_request_gets_no_answer_as_the_source_would()
    {
        await using var imds = new FakeImds { TokenPutHangs = true, V1Enabled = true };
        var closed = FakeHttpServer.ClosedEndpoint();
        var options = Options(imds.Endpoint, closed, closed);
        Assert.That(await CloudDetector.DetectAsync(options), Is.Null, "IMDSv2 only: the source could not read notices either");
        options.Aws.AllowImdsV1 = true;
        Assert.That(await CloudDetector.DetectAsync(options), Is.EqualTo("aws"), "the source falls back to IMDSv1, so the probe does");
    }

    [Test]
    public async Task A_metadata_service_slow_at_boot_is_found_by_background_retries_and_logged_as_late()
    {
        await using var azure = new FakeAzureImds();
        azure.InjectNext(new FakeReply.Hang(), 1, "compute/name"); // the probe at boot gets no answer in time
        var time = new TimerWatchingTimeProvider();
        var options = Options(FakeHttpServer.ClosedEndpoint(), FakeHttpServer.ClosedEndpoint(), azure.Endpoint);
        options.Azure.PollInterval = TimeSpan.FromMilliseconds(50);
        await using var harness = new NoticeHarness(TimeSpan.FromSeconds(5), time, null, new CloudAutoDetectSource(options));
        await harness.WaitForLogAsync("no cloud metadata service answered");
        await time.WaitForTimerAsync(0); // the source waits (on the clock) before probing again
        azure.AddEvent("p-late", "Preempt", [azure.VmName], time.GetUtcNow().AddSeconds(30));
        time.Advance(TimeSpan.FromMinutes(1));
        await harness.WaitForLogAsync("found late");
        var notice = await harness.WaitForNoticeAsync();
        Assert.That(notice.EventId, Is.EqualTo("p-late"));
    }

    [Test]
    public async Task Off_cloud_the_auto_source_retries_with_growing_gaps_then_gives_up_and_sends_nothing_more()
    {
        await using var silent = new FakeGcpMetadata { OmitFlavorHeader = true };
        var time = new TimerWatchingTimeProvider();
        var options = Options(FakeHttpServer.ClosedEndpoint(), silent.Endpoint, FakeHttpServer.ClosedEndpoint());
        options.RetryInterval = TimeSpan.FromSeconds(10);
        options.MaxRetryInterval = TimeSpan.FromSeconds(40);
        options.RetryFor = TimeSpan.FromMinutes(2);
        await using var harness = new NoticeHarness(TimeSpan.FromSeconds(5), time, null, new CloudAutoDetectSource(options));
        int rounds = 1;
        while (true)
        {
            await harness.WaitForLogAsync("no cloud metadata service answered", count: rounds);
            if (harness.Log.Messages.Any(m => m.Contains("stopped probing", StringComparison.Ordinal))) break;
            await time.WaitForTimerAsync(rounds - 1);
            time.Advance(time.DueTimes[rounds - 1]); // to the next round
            rounds++;
            Assert.That(rounds, Is.LessThan(20), "it must give up");
        }
        var gaps = time.DueTimes;
        Assert.That(gaps.Select(g => g.TotalSeconds), Is.EqualTo(new double[] { 10, 20, 40, 40 }), "doubling gaps, capped");
        int after = silent.Requests.Count;
        Assert.That(time.TimersCreated, Is.EqualTo(rounds - 1), "no further wait was scheduled");
        time.Advance(TimeSpan.FromHours(1));
        Assert.That(silent.Requests, Has.Count.EqualTo(after));
    }
}
