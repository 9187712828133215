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

    private static async Task<bool> ProbeAws(HttpClient http, CloudDetectionOptions options, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, new Uri(options.Aws.ResolveEndpoint(), AwsSpotNoticeSource.TokenPath));
        request.Headers.TryAddWithoutValidation(AwsSpotNoticeSource.TokenTtlHeader, "60");
        var reply = await MetadataHttp.SendAsync(http, request, options.ProbeTimeout, cancellationToken).ConfigureAwait(false);
        return reply.Status == HttpStatusCode.OK && reply.Body.Trim().Length > 0 && reply.Header(AwsSpotNoticeSource.TokenTtlHeader) is not null;
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

/// <summary>Detects the cloud when started, then runs that cloud's source.</summary>
internal sealed class CloudAutoDetectSource(CloudDetectionOptions options) : INoticeSource, IDisposable
{
    private INoticeSource? _detected;

    public string Name => "auto";

    public async Task RunAsync(NoticeContext context, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var provider = await CloudDetector.DetectAsync(options, cancellationToken).ConfigureAwait(false);
        INoticeSource? source = provider switch
        {
            NoticeProviders.Aws => new AwsSpotNoticeSource(options.Aws),
            NoticeProviders.Gcp => new GcpPreemptionNoticeSource(options.Gcp),
            NoticeProviders.Azure => new AzureScheduledEventsSource(options.Azure),
            _ => null,
        };
        if (source is null)
        {
            NoticeLog.SourceInfo(context.Logger, Name, $"no cloud metadata service answered within {options.ProbeTimeout.TotalSeconds:0.#} s; no cloud notices are watched");
            return;
        }
        NoticeLog.SourceInfo(context.Logger, Name, $"detected {provider}; watching its notices");
        Volatile.Write(ref _detected, source);
        await source.RunAsync(context, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<bool> AcknowledgeAsync(TerminationNotice notice, CancellationToken cancellationToken) =>
        Volatile.Read(ref _detected)?.AcknowledgeAsync(notice, cancellationToken) ?? ValueTask.FromResult(false);

    public void Dispose() => (Volatile.Read(ref _detected) as IDisposable)?.Dispose();
}
