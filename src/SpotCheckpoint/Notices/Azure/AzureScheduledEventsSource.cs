using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using SpotCheckpoint.Diagnostics;

namespace SpotCheckpoint.Notices.Azure;

/// <summary>
/// Polls Azure IMDS Scheduled Events for events that name this VM.
/// See https://learn.microsoft.com/azure/virtual-machines/linux/scheduled-events.
/// </summary>
internal sealed class AzureScheduledEventsSource : INoticeSource, IDisposable
{
    internal const string EventsPath = "metadata/scheduledevents?api-version=2020-07-01";
    internal const string NamePath = "metadata/instance/compute/name?api-version=2021-02-01&format=text";
    // Preempt (Spot eviction) and Terminate delete the VM; Reboot loses memory and Redeploy moves the VM to another
    // host: all four end the training process. Freeze pauses the VM for seconds and is survived.
    private static readonly HashSet<string> Fatal = new(StringComparer.OrdinalIgnoreCase) { "Preempt", "Terminate", "Reboot", "Redeploy" };

    private readonly AzureScheduledEventsOptions _options;
    private readonly HashSet<string> _seenEvents = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string[]> _raised = new(StringComparer.Ordinal); // EventId → the other VMs it lists
    private readonly object _gate = new();
    private HttpClient? _http;
    private Uri _endpoint = null!;
    private NoticeContext _context = null!;
    private bool _answered;

    public AzureScheduledEventsSource(AzureScheduledEventsOptions options)
    {
        if (options.PollInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(options), "PollInterval must be positive.");
        _options = options;
    }

    public string Name => NoticeProviders.Azure;

    public async Task RunAsync(NoticeContext context, CancellationToken cancellationToken)
    {
        await Task.Yield();
        _context = context;
        _endpoint = _options.ResolveEndpoint();
        _http = MetadataHttp.CreateClient(_options.RequestTimeout);
        string? vmName = _options.VmName;
        await MetadataHttp.PollAsync(context, Name, new Backoff(_options.PollInterval, _options.MaxBackoff), async ct =>
        {
            // Events list every VM of the availability set or placement group: without our name, nothing can be told apart.
            vmName ??= await GetVmNameAsync(ct).ConfigureAwait(false);
            var reply = await SendAsync(HttpMethod.Get, EventsPath, null, _answered ? _options.RequestTimeout : _options.FirstRequestTimeout, ct).ConfigureAwait(false);
            if (reply.Status != HttpStatusCode.OK)
                throw new MetadataProblemException($"scheduledevents answered HTTP {(int)reply.Status}");
            _answered = true;
            Process(reply.Body, vmName);
            return _options.PollInterval;
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task<string> GetVmNameAsync(CancellationToken cancellationToken)
    {
        var reply = await SendAsync(HttpMethod.Get, NamePath, null, _options.RequestTimeout, cancellationToken).ConfigureAwait(false);
        var name = reply.Body.Trim();
        if (reply.Status != HttpStatusCode.OK || name.Length == 0 || name.Length > 256 || name.Any(char.IsWhiteSpace))
            throw new MetadataProblemException($"the VM name could not be read from IMDS (HTTP {(int)reply.Status}, '{MetadataHttp.Shorten(name)}')");
        NoticeLog.SourceDebug(_context.Logger, Name, $"this VM is '{name}'");
        return name;
    }

    /// <summary>Raises each new event that names this VM: Preempt, Terminate, Reboot and Redeploy as terminations, Freeze as informational.</summary>
    private void Process(string body, string vmName)
    {
        if (!MetadataHttp.TryParseObject(body, out var root) || !root.TryGetProperty("Events", out var events) || events.ValueKind != JsonValueKind.Array)
        {
            NoticeLog.Garbage(_context.Logger, Name, $"scheduledevents returned '{MetadataHttp.Shorten(body)}'");
            return;
        }
        foreach (var e in events.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Object) continue;
            var id = String(e, "EventId");
            var type = String(e, "EventType");
            if (id is null || type is null) continue;
            if (!e.TryGetProperty("Resources", out var resources) || resources.ValueKind != JsonValueKind.Array) continue;
            var listed = resources.EnumerateArray().Where(r => r.ValueKind == JsonValueKind.String).Select(r => r.GetString()!).ToArray();
            if (!listed.Contains(vmName, StringComparer.OrdinalIgnoreCase)) continue; // another VM's event
            // Dedupe by EventId: DocumentIncarnation changes whenever any event changes.
            if (!_seenEvents.Add(id)) continue;
            var seen = _context.TimeProvider.GetUtcNow();
            var notBefore = String(e, "NotBefore") is { Length: > 0 } nb &&
                DateTimeOffset.TryParse(nb, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed) ? parsed : (DateTimeOffset?)null;
            var raw = e.GetRawText();
            if (Fatal.Contains(type))
            {
                lock (_gate) _raised[id] = listed.Where(r => !string.Equals(r, vmName, StringComparison.OrdinalIgnoreCase)).ToArray();
                // Keep training until the emergency checkpoint must start: NotBefore is the deadline.
                _context.Raise(new TerminationNotice(Name, NoticeKind.Termination, type, notBefore ?? seen + _options.DefaultWindow, seen, id, raw) { Id = "azure:" + id });
            }
            else
            {
                // Freeze pauses the VM for a few seconds. Never an emergency exit.
                _context.Raise(new TerminationNotice(Name, NoticeKind.Informational, type, notBefore ?? seen, seen, id, raw) { Id = "azure:" + id });
            }
        }
    }

    public async ValueTask<bool> AcknowledgeAsync(TerminationNotice notice, CancellationToken cancellationToken)
    {
        if (!_options.ApproveAfterCheckpoint || notice.Provider != Name || notice.EventId is null || _http is null) return false;
        string[]? others;
        lock (_gate)
        {
            if (!_raised.Remove(notice.EventId, out others)) return false;
        }
        if (others.Length > 0 && !_options.ApproveEventsListingOtherVms)
        {
            // Approval starts the event for every VM it lists: it would cut their work short too.
            NoticeLog.SourceInfo(_context.Logger, Name, $"event {notice.EventId} also lists {string.Join(", ", others)}; not approved " +
                "(that would start it for them too; ApproveEventsListingOtherVms), it starts at NotBefore");
            return false;
        }
        var reply = await SendAsync(HttpMethod.Post, EventsPath, StartRequest(notice.EventId), _options.RequestTimeout, cancellationToken).ConfigureAwait(false);
        if (reply.Status != HttpStatusCode.OK)
            throw new MetadataProblemException($"approving event {notice.EventId} answered HTTP {(int)reply.Status}");
        return true;
    }

    private async Task<MetadataHttp.Reply> SendAsync(HttpMethod method, string path, string? json, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(_endpoint, path));
        request.Headers.TryAddWithoutValidation("Metadata", "true");
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        return await MetadataHttp.SendAsync(_http!, request, timeout, cancellationToken).ConfigureAwait(false);
    }

    internal static string StartRequest(string eventId)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("StartRequests");
            writer.WriteStartObject();
            writer.WriteString("EventId", eventId);
            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string? String(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public void Dispose() => _http?.Dispose();
}
