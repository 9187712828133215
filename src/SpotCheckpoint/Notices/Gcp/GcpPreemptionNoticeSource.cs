using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
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
    internal const string UpcomingMaintenancePath = "computeMetadata/v1/instance/upcoming-maintenance";
    internal const string MachineTypePath = "computeMetadata/v1/instance/machine-type";
    internal const string AcceleratorsPath = "computeMetadata/v1/instance/guest-accelerators";
    internal const string PreemptiblePath = "computeMetadata/v1/instance/scheduling/preemptible";
    internal const string ProvisioningModelPath = "computeMetadata/v1/instance/scheduling/provisioning-model";
    internal static readonly TimeSpan PreemptibleLimit = TimeSpan.FromHours(24);
    // Machine families whose types come with GPUs built in (A100, H100/H200, B200, L4, RTX PRO).
    private static readonly string[] GpuFamilies = ["a2-", "a3-", "a4-", "a4x-", "g2-", "g4-"];
    internal const string FlavorHeader = "Metadata-Flavor";
    private static readonly TimeSpan MinimumPollGap = TimeSpan.FromSeconds(1);

    private readonly GcpPreemptionNoticeOptions _options;
    private HttpClient? _http;
    private Uri _endpoint = null!;
    private NoticeContext _context = null!;
    private bool? _hasGpus;

    public GcpPreemptionNoticeSource(GcpPreemptionNoticeOptions options)
    {
        if (options.LongPollTimeout < TimeSpan.FromSeconds(1)) throw new ArgumentOutOfRangeException(nameof(options), "LongPollTimeout must be at least 1 s.");
        if (options.PreemptibleLimitNoticeLead < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(options), "PreemptibleLimitNoticeLead cannot be negative.");
        _options = options;
        _hasGpus = options.HasGpus;
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
        if (_options.WatchMaintenanceEvents) watches.Add(WatchAsync(MaintenancePath, OnMaintenanceEventAsync, cancellationToken));
        if (_options.WatchPreemptibleLimit) watches.Add(PlanPreemptibleLimitAsync(cancellationToken));
        await Task.WhenAll(watches).ConfigureAwait(false);
    }

    /// <summary>True when the watch is over (a termination was raised).</summary>
    private Task<bool> OnPreempted(string value, string? etag, CancellationToken cancellationToken)
    {
        switch (value)
        {
            case "TRUE":
                var seen = _context.TimeProvider.GetUtcNow();
                _context.Raise(new TerminationNotice(Name, NoticeKind.Termination, "preempted", seen + _options.PreemptionWindow, seen, Payload: value)
                    { Id = "gcp:preempted" + (etag is null ? "" : ":" + etag) });
                return Task.FromResult(true);
            case "FALSE":
                return Task.FromResult(false);
            default:
                NoticeLog.Garbage(_context.Logger, Name, $"instance/preempted is '{MetadataHttp.Shorten(value)}'");
                return Task.FromResult(false);
        }
    }

    private async Task<bool> OnMaintenanceEventAsync(string value, string? etag, CancellationToken cancellationToken)
    {
        var seen = _context.TimeProvider.GetUtcNow();
        switch (value)
        {
            case "NONE":
                return false;
            case "TERMINATE_ON_HOST_MAINTENANCE":
                // "Compute Engine gives GPU VMs a 1-hour stopping notice, while normal VMs receive only a 60-second
                // notice" (GPU host maintenance docs): keep training for most of that hour.
                bool gpus = await HasGpusAsync(cancellationToken).ConfigureAwait(false);
                var deadline = seen + (gpus ? _options.GpuMaintenanceWindow : _options.MaintenanceWindow);
                var (windowStart, windowText) = await GetUpcomingWindowStartAsync(cancellationToken).ConfigureAwait(false);
                if (windowStart is { } start && start > seen && start < deadline) deadline = start; // the scheduled window starts sooner
                _context.Raise(new TerminationNotice(Name, NoticeKind.Termination, value, deadline, seen, Payload: value)
                    { Id = "gcp:maintenance:" + (windowText ?? etag ?? value) });
                return true;
            case "MIGRATE_ON_HOST_MAINTENANCE":
                _context.Raise(new TerminationNotice(Name, NoticeKind.Informational, value, seen, seen, EventId: etag ?? seen.ToString("O", CultureInfo.InvariantCulture), Payload: value));
                return false;
            default:
                NoticeLog.Garbage(_context.Logger, Name, $"instance/maintenance-event is '{MetadataHttp.Shorten(value)}'");
                return false;
        }
    }

    /// <summary>GPU-ness from the option, else from the machine type or the guest accelerators; false when neither can be read.</summary>
    private async Task<bool> HasGpusAsync(CancellationToken cancellationToken)
    {
        if (_hasGpus is { } known) return known;
        bool gpus = false;
        try
        {
            var machineType = await GetValueAsync(MachineTypePath, cancellationToken).ConfigureAwait(false);
            var type = machineType?[(machineType.LastIndexOf('/') + 1)..] ?? "";
            gpus = GpuFamilies.Any(f => type.StartsWith(f, StringComparison.OrdinalIgnoreCase));
            if (!gpus && await GetValueAsync(AcceleratorsPath, cancellationToken).ConfigureAwait(false) is { } accelerators)
            {
                using var doc = JsonDocument.Parse(accelerators);
                gpus = doc.RootElement.ValueKind == JsonValueKind.Array && doc.RootElement.GetArrayLength() > 0;
            }
            NoticeLog.SourceDebug(_context.Logger, Name, $"machine type '{type}': {(gpus ? "GPUs" : "no GPUs")}");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Unknown: the shorter warning is the safe assumption (the emergency checkpoint starts at once).
            NoticeLog.SourceInfo(_context.Logger, Name, $"could not tell whether this VM has GPUs ({MetadataHttp.Describe(ex)}); assuming the 60 s maintenance warning (set HasGpus)");
        }
        _hasGpus = gpus;
        return gpus;
    }

    /// <summary>The start of the scheduled maintenance window from <c>instance/upcoming-maintenance</c>, where the server has it.</summary>
    private async Task<(DateTimeOffset? Start, string? Text)> GetUpcomingWindowStartAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (await GetValueAsync(UpcomingMaintenancePath, cancellationToken).ConfigureAwait(false) is not { } body ||
                !MetadataHttp.TryParseObject(body, out var root) ||
                !root.TryGetProperty("window_start_time", out var start) || start.ValueKind != JsonValueKind.String)
                return (null, null);
            var text = start.GetString()!;
            return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed) ? (parsed, text) : (null, null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            NoticeLog.SourceDebug(_context.Logger, Name, $"upcoming-maintenance not read: {MetadataHttp.Describe(ex)}");
            return (null, null);
        }
    }

    /// <summary>
    /// Preemptible (not Spot) VMs are stopped 24 h after they start: raise a termination with that deadline ahead
    /// of it, so the emergency checkpoint commits in time (the preemption notice itself gives only 30 s).
    /// </summary>
    private Task PlanPreemptibleLimitAsync(CancellationToken cancellationToken) =>
        MetadataHttp.PollAsync(_context, Name, new Backoff(MinimumPollGap, _options.MaxBackoff), async ct =>
        {
            var preemptible = await GetValueAsync(PreemptiblePath, ct).ConfigureAwait(false);
            if (!string.Equals(preemptible?.Trim(), "TRUE", StringComparison.OrdinalIgnoreCase)) return null;
            var model = await GetValueAsync(ProvisioningModelPath, ct).ConfigureAwait(false);
            if (string.Equals(model?.Trim(), "SPOT", StringComparison.OrdinalIgnoreCase)) return null; // Spot VMs have no 24-hour limit
            var time = _context.TimeProvider;
            var started = _options.InstanceStartedAt ?? time.GetUtcNow() - TimeSpan.FromMilliseconds(Environment.TickCount64);
            var limit = started + PreemptibleLimit;
            var raiseAt = limit - _options.PreemptibleLimitNoticeLead;
            NoticeLog.SourceInfo(_context.Logger, Name, $"preemptible VM started at {started:O}: Compute Engine stops it by {limit:O}; " +
                $"its termination notice is raised at {raiseAt:O}");
            var wait = raiseAt - time.GetUtcNow();
            if (wait > TimeSpan.Zero) await Task.Delay(wait, time, ct).ConfigureAwait(false);
            var seen = time.GetUtcNow();
            _context.Raise(new TerminationNotice(Name, NoticeKind.Termination, "preemptible-24h-limit", limit, seen)
                { Id = "gcp:preemptible-limit:" + limit.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) });
            return null;
        }, cancellationToken);

    /// <summary>One plain read of a key: its value, or null when the server has no such key (404).</summary>
    private async Task<string?> GetValueAsync(string path, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_endpoint, path));
        request.Headers.TryAddWithoutValidation(FlavorHeader, "Google");
        var reply = await MetadataHttp.SendAsync(_http!, request, _options.RequestTimeout, cancellationToken).ConfigureAwait(false);
        if (reply.Status == HttpStatusCode.NotFound) return null;
        if (reply.Status != HttpStatusCode.OK) throw new MetadataProblemException($"{path} answered HTTP {(int)reply.Status}");
        if (!string.Equals(reply.Header(FlavorHeader), "Google", StringComparison.Ordinal))
            throw new MetadataProblemException($"{path} answered without 'Metadata-Flavor: Google': not a GCP metadata server");
        return reply.Body;
    }

    /// <summary>Reads the key once, then long-polls it with its ETag until <paramref name="onValue"/> says done.</summary>
    private Task WatchAsync(string path, Func<string, string?, CancellationToken, Task<bool>> onValue, CancellationToken cancellationToken)
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
            if (await onValue(reply.Body.Trim(), newEtag, ct).ConfigureAwait(false)) return null;
            // An answer without an ETag cannot be long-polled; an unchanged one that came back at once should not
            // spin: either way leave a gap before the next request. Otherwise long-poll again at once.
            return newEtag is null || (!changed && Stopwatch.GetElapsedTime(started) < MinimumPollGap) ? MinimumPollGap : TimeSpan.Zero;
        }, cancellationToken);
    }

    public void Dispose() => _http?.Dispose();
}
