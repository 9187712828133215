using System.Diagnostics;
using System.Globalization;
using System.Net;
using SpotCheckpoint.Diagnostics;

namespace SpotCheckpoint.Notices.Gcp;

/// <summary>
/// Long-polls the Compute Engine metadata server for <c>instance/preempted</c> and
/// <c>instance/maintenance-event</c>. See https://cloud.google.com/compute/docs/instances/spot#preemption and
/// https://cloud.google.com/compute/docs/metadata/querying-metadata#waitforchange.
/// </summary>
internal sealed class GcpPreemptionNoticeSource : INoticeSource, IDisposable
{
    internal const string PreemptedPath = "computeMetadata/v1/instance/preempted";
    internal const string MaintenancePath = "computeMetadata/v1/instance/maintenance-event";
    internal const string FlavorHeader = "Metadata-Flavor";
    private static readonly TimeSpan MinimumPollGap = TimeSpan.FromSeconds(1);

    private readonly GcpPreemptionNoticeOptions _options;
    private HttpClient? _http;
    private Uri _endpoint = null!;
    private NoticeContext _context = null!;

    public GcpPreemptionNoticeSource(GcpPreemptionNoticeOptions options)
    {
        if (options.LongPollTimeout < TimeSpan.FromSeconds(1)) throw new ArgumentOutOfRangeException(nameof(options), "LongPollTimeout must be at least 1 s.");
        _options = options;
    }

    public string Name => NoticeProviders.Gcp;

    public async Task RunAsync(NoticeContext context, CancellationToken cancellationToken)
    {
        await Task.Yield();
        _context = context;
        _endpoint = _options.ResolveEndpoint();
        _http = MetadataHttp.CreateClient(_options.RequestTimeout);
        NoticeLog.SourceDebug(context.Logger, Name, $"long-polling {new Uri(_endpoint, PreemptedPath)}");
        var watches = new List<Task> { WatchAsync(PreemptedPath, OnPreempted, cancellationToken) };
        // maintenance-event gives its 60 s warning only if the key was read since the last event: read it now.
        if (_options.WatchMaintenanceEvents) watches.Add(WatchAsync(MaintenancePath, OnMaintenanceEvent, cancellationToken));
        await Task.WhenAll(watches).ConfigureAwait(false);
    }

    /// <summary>True when the watch is over (a termination was raised).</summary>
    private bool OnPreempted(string value, string? etag)
    {
        switch (value)
        {
            case "TRUE":
                var seen = _context.TimeProvider.GetUtcNow();
                _context.Raise(new TerminationNotice(Name, NoticeKind.Termination, "preempted", seen + _options.PreemptionWindow, seen, Payload: value));
                return true;
            case "FALSE":
                return false;
            default:
                NoticeLog.Garbage(_context.Logger, Name, $"instance/preempted is '{MetadataHttp.Shorten(value)}'");
                return false;
        }
    }

    private bool OnMaintenanceEvent(string value, string? etag)
    {
        var seen = _context.TimeProvider.GetUtcNow();
        switch (value)
        {
            case "NONE":
                return false;
            case "TERMINATE_ON_HOST_MAINTENANCE":
                _context.Raise(new TerminationNotice(Name, NoticeKind.Termination, value, seen + _options.MaintenanceWindow, seen, Payload: value));
                return true;
            case "MIGRATE_ON_HOST_MAINTENANCE":
                _context.Raise(new TerminationNotice(Name, NoticeKind.Informational, value, seen, seen, EventId: etag ?? seen.ToString("O", CultureInfo.InvariantCulture), Payload: value));
                return false;
            default:
                NoticeLog.Garbage(_context.Logger, Name, $"instance/maintenance-event is '{MetadataHttp.Shorten(value)}'");
                return false;
        }
    }

    /// <summary>Reads the key once, then long-polls it with its ETag until <paramref name="onValue"/> says done.</summary>
    private Task WatchAsync(string path, Func<string, string?, bool> onValue, CancellationToken cancellationToken)
    {
        string? etag = null;
        int timeoutSec = (int)Math.Ceiling(_options.LongPollTimeout.TotalSeconds);
        return MetadataHttp.PollAsync(_context, Name, new Backoff(MinimumPollGap, _options.MaxBackoff), async ct =>
        {
            var started = Stopwatch.GetTimestamp();
            bool wait = etag is not null;
            var uri = new Uri(_endpoint, wait
                ? $"{path}?wait_for_change=true&last_etag={Uri.EscapeDataString(etag!)}&timeout_sec={timeoutSec}"
                : path);
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            request.Headers.TryAddWithoutValidation(FlavorHeader, "Google");
            // The HTTP timeout must outlast timeout_sec, or every quiet long-poll would look like a failure.
            var timeout = wait ? _options.LongPollTimeout + _options.RequestTimeout + TimeSpan.FromSeconds(5) : _options.RequestTimeout;
            var reply = await MetadataHttp.SendAsync(_http!, request, timeout, ct).ConfigureAwait(false);
            if (reply.Status != HttpStatusCode.OK)
                throw new MetadataProblemException($"{path} answered HTTP {(int)reply.Status}" +
                    (reply.Status == HttpStatusCode.ServiceUnavailable ? " (maintenance; retrying)" : ""));
            if (!string.Equals(reply.Header(FlavorHeader), "Google", StringComparison.Ordinal))
                throw new MetadataProblemException($"{path} answered without 'Metadata-Flavor: Google': not a GCP metadata server");
            var newEtag = reply.Header("ETag");
            bool changed = newEtag is null || newEtag != etag;
            etag = newEtag;
            if (onValue(reply.Body.Trim(), newEtag)) return null;
            // An answer without an ETag cannot be long-polled; an unchanged one that came back at once should not
            // spin: either way leave a gap before the next request. Otherwise long-poll again at once.
            return newEtag is null || (!changed && Stopwatch.GetElapsedTime(started) < MinimumPollGap) ? MinimumPollGap : TimeSpan.Zero;
        }, cancellationToken);
    }

    public void Dispose() => _http?.Dispose();
}
