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
    public async Task Off_cloud_the_auto_source_says_so_and_sends_nothing_more()
    {
        await using var silent = new FakeGcpMetadata { OmitFlavorHeader = true };
        var options = Options(FakeHttpServer.ClosedEndpoint(), silent.Endpoint, FakeHttpServer.ClosedEndpoint());
        await using var harness = new NoticeHarness(new CloudAutoDetectSource(options));
        await harness.WaitForLogAsync("no cloud metadata service answered");
        int after = silent.Requests.Count;
        await Task.Delay(300);
        Assert.That(silent.Requests, Has.Count.EqualTo(after));
    }
}
