using System.Net;
using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Notices.Aws;
using SpotCheckpoint.Notices.Azure;
using SpotCheckpoint.Notices.Gcp;

namespace SpotCheckpoint.Notices;

/// <summary>Options of cloud auto-detection (<see cref="NoticeOptionsExtensions.UseCloudAutoDetection"/>).</summary>
public sealed class CloudDetectionOptions
{
    /// <summary>How long each probe may take. The probes run in parallel. Default 2 s.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// When no cloud answers, the wait before probing again; it doubles after each round up to
    /// <see cref="MaxRetryInterval"/>. A metadata service can be slow to come up at boot. Default 10 s.
    /// </summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest wait between two rounds of probes. Default 5 min.</summary>
    public TimeSpan MaxRetryInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long after the start rounds of probes go on; none starts later than this. <see cref="TimeSpan.Zero"/>
    /// probes once. Default 1 h: off a cloud, about fifteen rounds of three small requests, then nothing more.
    /// </summary>
    public TimeSpan RetryFor { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Options of the AWS source, used for its probe and, when AWS is found, for watching it.</summary>
    public AwsSpotNoticeOptions Aws { get; } = new();

    /// <summary>Options of the GCP source, used for its probe and, when GCP is found, for watching it.</summary>
    public GcpPreemptionNoticeOptions Gcp { get; } = new();

    /// <summary>Options of the Azure source, used for its probe and, when Azure is found, for watching it.</summary>
    public AzureScheduledEventsOptions Azure { get; } = new();
}

/// <summary>Finds out which cloud's metadata service this machine can reach.</summary>
public static class CloudDetector
{
    /// <summary>
    /// Probes AWS (an IMDSv2 token), GCP (a reply carrying <c>Metadata-Flavor: Google</c>) and Azure (the VM name
    /// with <c>Metadata: true</c>) in parallel. Returns the first provider that identified itself
    /// (<see cref="NoticeProviders"/>), or null when none did within the timeout.
    /// </summary>
    public static async Task<string?> DetectAsync(CloudDetectionOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new CloudDetectionOptions();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var http = MetadataHttp.CreateClient(options.ProbeTimeout);
        var probes = new List<Task<string?>>
        {
            Probe(NoticeProviders.Aws, () => ProbeAws(http, options, cts.Token)),
            Probe(NoticeProviders.Gcp, () => ProbeGcp(http, options, cts.Token)),
            Probe(NoticeProviders.Azure, () => ProbeAzure(http, options, cts.Token)),
        };
        try
        {
            while (probes.Count > 0)
            {
                var done = await Task.WhenAny(probes).ConfigureAwait(false);
                probes.Remove(done);
                if (await done.ConfigureAwait(false) is { } found) return found;
            }
            return null;
        }
        finally
        {
            await cts.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(probes).ConfigureAwait(false);
        }
    }

    private static async Task<string?> Probe(string provider, Func<Task<bool>> probe)
    {
        try { return await probe().ConfigureAwait(false) ? provider : null; }
        catch (Exception) { return null; } // unreachable, refused, timed out, cancelled: not this cloud
    }

    /// <summary>
    /// AWS is found when the source could read notices: an IMDSv2 token, or — only with AllowImdsV1, as the source
    /// falls back then — an unauthenticated instance id (inside a container the token PUT gets no answer).
    /// </summary>
    private static async Task<bool> ProbeAws(HttpClient http, CloudDetectionOptions options, CancellationToken cancellationToken)
    {
        if (AwsSpotNoticeOptions.DisabledByEnvironment) return false; // AWS_EC2_METADATA_DISABLED: send nothing
        var endpoint = options.Aws.ResolveEndpoint();
        var v2 = ProbeAwsV2(http, endpoint, options.ProbeTimeout, cancellationToken);
        if (!options.Aws.AllowImdsV1) return await v2.ConfigureAwait(false);
        var v1 = ProbeAwsV1(http, endpoint, options.ProbeTimeout, cancellationToken);
        var first = await Task.WhenAny(v2, v1).ConfigureAwait(false);
        if (first.IsCompletedSuccessfully && first.Result) return true;
        var second = first == v2 ? v1 : v2;
        try { return await second.ConfigureAwait(false); }
        finally { if (!first.IsCompletedSuccessfully) _ = first.Exception; }
    }

    private static async Task<bool> ProbeAwsV2(HttpClient http, Uri endpoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, new Uri(endpoint, AwsSpotNoticeSource.TokenPath));
        request.Headers.TryAddWithoutValidation(AwsSpotNoticeSource.TokenTtlHeader, "60");
        var reply = await MetadataHttp.SendAsync(http, request, timeout, cancellationToken).ConfigureAwait(false);
        return reply.Status == HttpStatusCode.OK && reply.Body.Trim().Length > 0 && reply.Header(AwsSpotNoticeSource.TokenTtlHeader) is not null;
    }

    private static async Task<bool> ProbeAwsV1(HttpClient http, Uri endpoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(endpoint, "latest/meta-data/instance-id"));
        var reply = await MetadataHttp.SendAsync(http, request, timeout, cancellationToken).ConfigureAwait(false);
        return reply.Status == HttpStatusCode.OK && reply.Body.Trim().StartsWith("i-", StringComparison.Ordinal) &&
               reply.Header(GcpPreemptionNoticeSource.FlavorHeader) is null;
    }

    private static async Task<bool> ProbeGcp(HttpClient http, CloudDetectionOptions options, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(options.Gcp.ResolveEndpoint(), "computeMetadata/v1/instance/id"));
        request.Headers.TryAddWithoutValidation(GcpPreemptionNoticeSource.FlavorHeader, "Google");
        var reply = await MetadataHttp.SendAsync(http, request, options.ProbeTimeout, cancellationToken).ConfigureAwait(false);
        return reply.Status == HttpStatusCode.OK && reply.Header(GcpPreemptionNoticeSource.FlavorHeader) == "Google";
    }

    private static async Task<bool> ProbeAzure(HttpClient http, CloudDetectionOptions options, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(options.Azure.ResolveEndpoint(), AzureScheduledEventsSource.NamePath));
        request.Headers.TryAddWithoutValidation("Metadata", "true");
        var reply = await MetadataHttp.SendAsync(http, request, options.ProbeTimeout, cancellationToken).ConfigureAwait(false);
        return reply.Status == HttpStatusCode.OK && reply.Body.Trim().Length > 0 && reply.Header(GcpPreemptionNoticeSource.FlavorHeader) is null;
    }
}

/// <summary>
/// Detects the cloud when started, then runs that cloud's source. When no cloud answers, probes again in the
/// background with growing gaps for <see cref="CloudDetectionOptions.RetryFor"/>, and says so when one is found late.
/// </summary>
internal sealed class CloudAutoDetectSource(CloudDetectionOptions options) : INoticeSource, IDisposable
{
    private INoticeSource? _detected;

    public string Name => "auto";

    public async Task RunAsync(NoticeContext context, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var time = context.TimeProvider;
        var started = time.GetTimestamp();
        var gap = options.RetryInterval > TimeSpan.Zero ? options.RetryInterval : TimeSpan.FromSeconds(1);
        string? provider;
        int round = 1;
        while ((provider = await CloudDetector.DetectAsync(options, cancellationToken).ConfigureAwait(false)) is null)
        {
            var elapsed = time.GetElapsedTime(started);
            var answered = $"no cloud metadata service answered within {options.ProbeTimeout.TotalSeconds:0.#} s";
            if (elapsed + gap > options.RetryFor)
            {
                NoticeLog.SourceInfo(context.Logger, Name, $"{answered} (round {round}); stopped probing after {elapsed.TotalMinutes:0.#} min: no cloud notices are watched");
                return;
            }
            NoticeLog.SourceInfo(context.Logger, Name, $"{answered} (round {round}); probing again in {gap.TotalSeconds:0.#} s");
            await Task.Delay(gap, time, cancellationToken).ConfigureAwait(false);
            gap = gap * 2 < options.MaxRetryInterval ? gap * 2 : options.MaxRetryInterval;
            round++;
        }
        INoticeSource source = provider switch
        {
            NoticeProviders.Aws => new AwsSpotNoticeSource(options.Aws),
            NoticeProviders.Gcp => new GcpPreemptionNoticeSource(options.Gcp),
            _ => new AzureScheduledEventsSource(options.Azure),
        };
        if (round == 1) NoticeLog.SourceInfo(context.Logger, Name, $"detected {provider}; watching its notices");
        else NoticeLog.SourceWarning(context.Logger, Name, $"detected {provider}, found late: {time.GetElapsedTime(started).TotalSeconds:0} s after the start (round {round}); watching its notices from now");
        Volatile.Write(ref _detected, source);
        await source.RunAsync(context, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<bool> AcknowledgeAsync(TerminationNotice notice, CancellationToken cancellationToken) =>
        Volatile.Read(ref _detected)?.AcknowledgeAsync(notice, cancellationToken) ?? ValueTask.FromResult(false);

    public void Dispose() => (Volatile.Read(ref _detected) as IDisposable)?.Dispose();
}
