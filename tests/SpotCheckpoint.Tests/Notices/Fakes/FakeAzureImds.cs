using System.Globalization;
using System.Text.Json;

namespace SpotCheckpoint.Tests.Notices.Fakes;

/// <summary>
/// Azure IMDS Scheduled Events as documented: requests need <c>Metadata: true</c> (400 otherwise); GET lists the
/// events of every VM in the placement group with a DocumentIncarnation; POST StartRequests approves events.
/// </summary>
internal sealed class FakeAzureImds : FakeMetadataService
{
    private readonly object _gate = new();
    private readonly List<Dictionary<string, object>> _events = new();
    private int _incarnation = 1;
    private int _eventCalls;

    public string VmName { get; set; } = "trainer-vm-7";

    /// <summary>The first Scheduled Events call after boot is slow.</summary>
    public TimeSpan FirstCallDelay { get; set; }

    /// <summary>EventIds approved by POST StartRequests, in order.</summary>
    public List<string> Approved { get; } = new();

    /// <summary>Called as an approval arrives (before it is answered).</summary>
    public Action<string>? OnApprove { get; set; }

    public int EventPolls => Count(r => r.Method == "GET" && r.Path == "/metadata/scheduledevents");

    public void AddEvent(string eventId, string eventType, string[] resources, DateTimeOffset? notBefore, string status = "Scheduled")
    {
        lock (_gate)
        {
            _events.Add(new Dictionary<string, object>
            {
                ["EventId"] = eventId,
                ["EventStatus"] = status,
                ["EventType"] = eventType,
                ["ResourceType"] = "VirtualMachine",
                ["Resources"] = resources,
                ["NotBefore"] = notBefore?.UtcDateTime.ToString("r", CultureInfo.InvariantCulture) ?? "",
                ["Description"] = "fake event",
                ["EventSource"] = "Platform",
                ["DurationInSeconds"] = eventType == "Freeze" ? 5 : -1,
            });
            _incarnation++;
        }
    }

    /// <summary>Changes nothing but the DocumentIncarnation (another VM's event came and went).</summary>
    public void Touch()
    {
        lock (_gate) _incarnation++;
    }

    protected override async Task<FakeReply> ServeAsync(FakeRequest request, CancellationToken cancellationToken)
    {
        if (request.Header("Metadata") != "true")
            return FakeReply.Respond(400, """{"error": "Bad request. Required metadata header not specified"}""");
        switch (request.Method, request.Path)
        {
            case ("GET", "/metadata/instance/compute/name"):
                return request.QueryValue("format") == "text" ? FakeReply.Respond(200, VmName) : FakeReply.Respond(400);
            case ("GET", "/metadata/scheduledevents"):
                if (request.QueryValue("api-version") != "2020-07-01") return FakeReply.Respond(400);
                if (Interlocked.Increment(ref _eventCalls) == 1 && FirstCallDelay > TimeSpan.Zero) await Task.Delay(FirstCallDelay, cancellationToken);
                string doc;
                lock (_gate) doc = JsonSerializer.Serialize(new Dictionary<string, object> { ["DocumentIncarnation"] = _incarnation, ["Events"] = _events });
                return new FakeReply.Http(200, doc, new Dictionary<string, string> { ["Content-Type"] = "application/json" });
            case ("POST", "/metadata/scheduledevents"):
                using (var body = JsonDocument.Parse(request.Body))
                {
                    foreach (var start in body.RootElement.GetProperty("StartRequests").EnumerateArray())
                    {
                        var id = start.GetProperty("EventId").GetString()!;
                        OnApprove?.Invoke(id);
                        lock (_gate)
                        {
                            Approved.Add(id);
                            _events.RemoveAll(e => (string)e["EventId"] == id);
                            _incarnation++;
                        }
                    }
                }
                return FakeReply.Respond(200);
            default:
                return FakeReply.Respond(404);
        }
    }
}
