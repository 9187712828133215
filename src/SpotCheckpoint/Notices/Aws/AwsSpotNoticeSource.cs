using System.Globalization;
using System.Net;
using System.Text.Json;
using SpotCheckpoint.Diagnostics;

namespace SpotCheckpoint.Notices.Aws;

/// <summary>
/// Polls the EC2 instance metadata service (IMDSv2) for a spot instance action, rebalance recommendations and
/// scheduled maintenance events.
/// See https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html,
/// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instances-status-check_sched.html and
/// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html.
/// </summary>
internal sealed class AwsSpotNoticeSource : INoticeSource, IDisposable
{
    internal const string TokenPath = "latest/api/token";
    internal const string InstanceActionPath = "latest/meta-data/spot/instance-action";
    internal const string RebalancePath = "latest/meta-data/events/recommendations/rebalance";
    internal const string MaintenancePath = "latest/meta-data/events/maintenance/scheduled";
    internal const string TokenHeader = "X-aws-ec2-metadata-token";
    internal const string TokenTtlHeader = "X-aws-ec2-metadata-token-ttl-seconds";
    private static readonly HashSet<string> Actions = new(StringComparer.OrdinalIgnoreCase) { "terminate", "stop", "hibernate" };
    // Scheduled events that stop, reboot or retire the instance end the process at or after NotBefore;
    // system-maintenance (network or power work on the host) usually does not.
    private static readonly HashSet<string> EndingEvents = new(StringComparer.OrdinalIgnoreCase)
        { "instance-stop", "instance-retirement", "instance-reboot", "system-reboot" };

    private readonly AwsSpotNoticeOptions _options;
    private HttpClient? _http;
    private Uri _endpoint = null!;
    private NoticeContext _context = null!;
    private string? _token;
    private long _tokenRenewAt;
    private bool _useV1;

    public AwsSpotNoticeSource(AwsSpotNoticeOptions options)
    {
        if (options.PollInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(options), "PollInterval must be positive.");
        if (options.MaintenancePollInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(options), "MaintenancePollInterval must be positive.");
        if (options.TokenTtl < TimeSpan.FromSeconds(1) || options.TokenTtl > TimeSpan.FromHours(6))
            throw new ArgumentOutOfRangeException(nameof(options), "TokenTtl must be 1 s to 6 h.");
        _options = options;
    }

    public string Name => NoticeProviders.Aws;

    public async Task RunAsync(NoticeContext context, CancellationToken cancellationToken)
    {
        await Task.Yield();
        _context = context;
        if (AwsSpotNoticeOptions.DisabledByEnvironment)
        {
            NoticeLog.SourceInfo(context.Logger, Name, $"{AwsSpotNoticeOptions.DisabledVariable} is true: the instance metadata service is not used, no AWS notices are watched");
            return;
        }
        _endpoint = _options.ResolveEndpoint();
        _http = MetadataHttp.CreateClient(_options.RequestTimeout);
        bool rebalanceSeen = false;
        long? maintenancePolledAt = null;
        NoticeLog.SourceDebug(context.Logger, Name, $"polling {new Uri(_endpoint, InstanceActionPath)} every {_options.PollInterval.TotalSeconds:0.#} s");
        await MetadataHttp.PollAsync(context, Name, new Backoff(_options.PollInterval, _options.MaxBackoff), async ct =>
        {
            if (await PollInstanceActionAsync(ct).ConfigureAwait(false)) return null; // the notice is raised: nothing more to watch
            if (_options.WatchRebalanceRecommendations && !rebalanceSeen)
                rebalanceSeen = await PollRebalanceAsync(ct).ConfigureAwait(false);
            if (_options.WatchScheduledMaintenance &&
                (maintenancePolledAt is not { } last || context.TimeProvider.GetElapsedTime(last) >= _options.MaintenancePollInterval))
            {
                await PollMaintenanceAsync(ct).ConfigureAwait(false);
                maintenancePolledAt = context.TimeProvider.GetTimestamp();
            }
            return _options.PollInterval;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One poll of spot/instance-action; true when a termination notice was raised.</summary>
    private async Task<bool> PollInstanceActionAsync(CancellationToken cancellationToken)
    {
        var reply = await GetAsync(InstanceActionPath, cancellationToken).ConfigureAwait(false);
        if (reply.Status == HttpStatusCode.NotFound) return false; // the normal state: no action scheduled
        if (reply.Status != HttpStatusCode.OK) throw new MetadataProblemException($"{InstanceActionPath} answered HTTP {(int)reply.Status}");
        var seen = _context.TimeProvider.GetUtcNow();
        if (!TryParseInstanceAction(reply.Body, out var action, out var time))
        {
            NoticeLog.Garbage(_context.Logger, Name, $"{InstanceActionPath} returned 200 with '{MetadataHttp.Shorten(reply.Body)}'");
            return false;
        }
        // The time can be in the past (a failed termination) or skewed: act on the notice's presence, and never
        // work to a later deadline than the documented two minutes from now.
        var deadline = seen + _options.NoticeWindow;
        if (time is { } t && t < deadline) deadline = t;
        // The same notice read again by a restarted process has the same action and time: that is its identity.
        _context.Raise(new TerminationNotice(Name, NoticeKind.Termination, action, deadline, seen, Payload: reply.Body)
            { Id = $"aws:instance-action:{action}" + (time is { } at ? ":" + at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) : "") });
        return true;
    }

    /// <summary>One poll of the rebalance recommendation; true once it was seen.</summary>
    private async Task<bool> PollRebalanceAsync(CancellationToken cancellationToken)
    {
        var reply = await GetAsync(RebalancePath, cancellationToken).ConfigureAwait(false);
        if (reply.Status == HttpStatusCode.NotFound) return false;
        if (reply.Status != HttpStatusCode.OK) throw new MetadataProblemException($"{RebalancePath} answered HTTP {(int)reply.Status}");
        var seen = _context.TimeProvider.GetUtcNow();
        if (!TryParseRebalance(reply.Body, out var noticeTime))
        {
            NoticeLog.Garbage(_context.Logger, Name, $"{RebalancePath} returned 200 with '{MetadataHttp.Shorten(reply.Body)}'");
            return false;
        }
        _context.Raise(new TerminationNotice(Name, NoticeKind.Risk, "rebalance-recommendation", noticeTime ?? seen, seen, Payload: reply.Body));
        return true;
    }

    /// <summary>
    /// One poll of the scheduled maintenance events: a stop, reboot or retirement of the instance is a termination at
    /// its NotBefore, system-maintenance a risk signal; the hub takes each once per EventId. Its failures are logged
    /// and never slow the instance-action poll down.
    /// </summary>
    private async Task PollMaintenanceAsync(CancellationToken cancellationToken)
    {
        MetadataHttp.Reply reply;
        try
        {
            reply = await GetAsync(MaintenancePath, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is not OperationCanceledException)
        {
            var problem = ex is MetadataProblemException ? ex.Message : MetadataHttp.Describe(ex);
            NoticeLog.SourceDebug(_context.Logger, Name, $"{problem}; scheduled maintenance is polled again in {_options.MaintenancePollInterval.TotalSeconds:0.#} s");
            return;
        }
        if (reply.Status == HttpStatusCode.NotFound) return; // no events (some instances answer 404 rather than [])
        if (reply.Status != HttpStatusCode.OK)
        {
            NoticeLog.SourceDebug(_context.Logger, Name, $"{MaintenancePath} answered HTTP {(int)reply.Status}");
            return;
        }
        if (!TryParseMaintenance(reply.Body, out var events))
        {
            NoticeLog.Garbage(_context.Logger, Name, $"{MaintenancePath} returned 200 with '{MetadataHttp.Shorten(reply.Body)}'");
            return;
        }
        var seen = _context.TimeProvider.GetUtcNow();
        foreach (var e in events)
        {
            // A stop, reboot or retirement ends the process at NotBefore: a termination, which the hub lets training
            // run up to (the emergency checkpoint starts in time). Without a NotBefore nothing can be planned: a risk.
            var kind = EndingEvents.Contains(e.Code) && e.NotBefore is not null ? NoticeKind.Termination : NoticeKind.Risk;
            _context.Raise(new TerminationNotice(Name, kind, "maintenance:" + e.Code, e.NotBefore ?? seen, seen, EventId: e.Id, Payload: e.Json)
                { Id = "aws:scheduled:" + e.Id });
        }
    }

    /// <summary>A GET with the session token; on 401 the token is renewed once and the GET repeated.</summary>
    private async Task<MetadataHttp.Reply> GetAsync(string path, CancellationToken cancellationToken)
    {
        for (int attempt = 0; ; attempt++)
        {
            var token = await GetTokenAsync(cancellationToken).ConfigureAwait(false);
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_endpoint, path));
            if (token is not null) request.Headers.TryAddWithoutValidation(TokenHeader, token);
            var reply = await MetadataHttp.SendAsync(_http!, request, _options.RequestTimeout, cancellationToken).ConfigureAwait(false);
            if (reply.Status == HttpStatusCode.Unauthorized && token is not null && attempt == 0)
            {
                _token = null; // expired or unknown token: get a new one and try once more
                continue;
            }
            if (reply.Status == HttpStatusCode.TooManyRequests || (int)reply.Status >= 500)
                throw new MetadataProblemException($"{path} answered HTTP {(int)reply.Status} (throttled or unavailable)");
            if (reply.Status == HttpStatusCode.Unauthorized)
                throw new MetadataProblemException($"{path} answered HTTP 401 even with a new token");
            return reply;
        }
    }

    private async Task<string?> GetTokenAsync(CancellationToken cancellationToken)
    {
        if (_useV1) return null;
        if (_token is not null && _context.TimeProvider.GetTimestamp() < _tokenRenewAt) return _token;
        using var request = new HttpRequestMessage(HttpMethod.Put, new Uri(_endpoint, TokenPath));
        int ttl = (int)_options.TokenTtl.TotalSeconds;
        request.Headers.TryAddWithoutValidation(TokenTtlHeader, ttl.ToString(CultureInfo.InvariantCulture));
        string unreachable;
        try
        {
            var reply = await MetadataHttp.SendAsync(_http!, request, _options.RequestTimeout, cancellationToken).ConfigureAwait(false);
            if (reply.Status == HttpStatusCode.OK && reply.Body.Trim().Length > 0)
            {
                if (int.TryParse(reply.Header(TokenTtlHeader), NumberStyles.Integer, CultureInfo.InvariantCulture, out var granted) && granted > 0)
                    ttl = Math.Min(ttl, granted);
                _token = reply.Body.Trim();
                // Renew at 80 % of the lifetime (and at least 5 s early), so a request never carries an expired token.
                var renewIn = TimeSpan.FromSeconds(Math.Max(1, Math.Min(ttl * 0.8, ttl - 5)));
                _tokenRenewAt = _context.TimeProvider.GetTimestamp() + (long)(renewIn.TotalSeconds * _context.TimeProvider.TimestampFrequency);
                return _token;
            }
            if (reply.Status is HttpStatusCode.Forbidden or HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed)
                unreachable = $"the IMDSv2 token request was refused (HTTP {(int)reply.Status})";
            else
                throw new MetadataProblemException($"the IMDSv2 token request answered HTTP {(int)reply.Status}");
        }
        catch (TimeoutException)
        {
            unreachable = "the IMDSv2 token request got no answer (inside a container the default hop limit of 1 drops it: " +
                          "raise it with 'aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2')";
        }
        if (!_options.AllowImdsV1)
            throw new MetadataProblemException(unreachable + "; IMDSv1 is not allowed (AllowImdsV1)");
        _useV1 = true;
        NoticeLog.SourceInfo(_context.Logger, Name, unreachable + "; using IMDSv1 as allowed");
        return null;
    }

    internal static bool TryParseInstanceAction(string body, out string action, out DateTimeOffset? time)
    {
        action = "";
        time = null;
        if (!MetadataHttp.TryParseObject(body, out var root)) return false;
        if (!root.TryGetProperty("action", out var a) || a.ValueKind != JsonValueKind.String || !Actions.Contains(a.GetString()!)) return false;
        action = a.GetString()!.ToLowerInvariant();
        if (root.TryGetProperty("time", out var t) && t.ValueKind == JsonValueKind.String &&
            DateTimeOffset.TryParse(t.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
            time = parsed;
        return true;
    }

    internal static bool TryParseRebalance(string body, out DateTimeOffset? noticeTime)
    {
        noticeTime = null;
        if (!MetadataHttp.TryParseObject(body, out var root) || !root.TryGetProperty("noticeTime", out var t) || t.ValueKind != JsonValueKind.String) return false;
        if (DateTimeOffset.TryParse(t.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)) noticeTime = parsed;
        return true;
    }

    /// <summary>One entry of <c>events/maintenance/scheduled</c> that is still to come.</summary>
    internal sealed record ScheduledMaintenance(string Id, string Code, DateTimeOffset? NotBefore, string Json);

    /// <summary>
    /// Parses the JSON array of scheduled events, keeping those not completed or canceled. Dates come as
    /// <c>21 Jan 2019 09:00:43 GMT</c>, not RFC 3339. False when the body is not a JSON array.
    /// </summary>
    internal static bool TryParseMaintenance(string body, out List<ScheduledMaintenance> events)
    {
        events = [];
        if (string.IsNullOrWhiteSpace(body)) return false;
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Array) return false;
            foreach (var item in doc.RootElement.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object || String(item, "Code") is not { Length: > 0 } code) continue;
                if (String(item, "State") is { } state &&
                    (state.Equals("completed", StringComparison.OrdinalIgnoreCase) || state.Equals("canceled", StringComparison.OrdinalIgnoreCase) ||
                     state.Equals("cancelled", StringComparison.OrdinalIgnoreCase)))
                    continue;
                var notBefore = ParseEventTime(String(item, "NotBefore"));
                var id = String(item, "EventId") is { Length: > 0 } eventId ? eventId : $"{code}@{String(item, "NotBefore")}";
                events.Add(new ScheduledMaintenance(id, code, notBefore, item.GetRawText()));
            }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }

        static string? String(JsonElement item, string name) =>
            item.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    }

    private static readonly string[] EventTimeFormats = ["d MMM yyyy HH:mm:ss 'GMT'", "ddd, d MMM yyyy HH:mm:ss 'GMT'"];

    private static DateTimeOffset? ParseEventTime(string? text)
    {
        if (text is null) return null;
        if (DateTimeOffset.TryParseExact(text.Trim(), EventTimeFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var exact)) return exact;
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed) ? parsed : null;
    }

    public void Dispose() => _http?.Dispose();
}
