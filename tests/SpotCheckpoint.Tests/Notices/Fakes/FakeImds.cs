using System.Collections.Concurrent;
using System.Globalization;

namespace SpotCheckpoint.Tests.Notices.Fakes;

/// <summary>
/// AWS EC2 instance metadata (IMDSv2) as documented: PUT /latest/api/token with a TTL header (1–21600) gives a
/// token and echoes the TTL; GETs need a live token (401 otherwise, unless IMDSv1 is enabled); spot/instance-action
/// and the rebalance recommendation are 404 until set.
/// </summary>
internal sealed class FakeImds : FakeMetadataService
{
    private readonly ConcurrentDictionary<string, DateTime> _tokens = new();

    /// <summary>The body of spot/instance-action (200), or null (404).</summary>
    public string? InstanceAction { get; set; }

    /// <summary>The body of events/recommendations/rebalance (200), or null (404).</summary>
    public string? Rebalance { get; set; }

    /// <summary>The body of events/maintenance/scheduled (200), or null (404).</summary>
    public string? ScheduledMaintenance { get; set; }

    /// <summary>events/maintenance/scheduled is answered with this status instead (503 while it is unavailable).</summary>
    public int? ScheduledMaintenanceStatus { get; set; }

    /// <summary>GETs without a token are served (IMDSv1 enabled on the instance).</summary>
    public bool V1Enabled { get; set; }

    /// <summary>The token PUT never gets an answer (a container behind the default hop limit of 1).</summary>
    public bool TokenPutHangs { get; set; }

    /// <summary>The token PUT is answered with this status instead (403, 404, 405).</summary>
    public int? TokenPutStatus { get; set; }

    public int TokenPuts => Count(r => r.Method == "PUT");

    public int ActionPolls => Count(r => r.Method == "GET" && r.Path.EndsWith("spot/instance-action", StringComparison.Ordinal));

    /// <summary>Every token issued so far expires now.</summary>
    public void ExpireTokens() => _tokens.Clear();

    public static string Action(string action, DateTimeOffset time) =>
        $$"""{"action": "{{action}}", "time": "{{time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)}}"}""";

    protected override Task<FakeReply> ServeAsync(FakeRequest request, CancellationToken cancellationToken)
    {
        if (request.Path == "/latest/api/token")
        {
            if (request.Method != "PUT") return Task.FromResult(FakeReply.Respond(405));
            if (TokenPutHangs) return Task.FromResult<FakeReply>(new FakeReply.Hang());
            if (TokenPutStatus is { } status) return Task.FromResult(FakeReply.Respond(status));
            if (!int.TryParse(request.Header("X-aws-ec2-metadata-token-ttl-seconds"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var ttl) || ttl is < 1 or > 21600)
                return Task.FromResult(FakeReply.Respond(400, "Bad Request"));
            var token = Convert.ToBase64String(Guid.NewGuid().ToByteArray());
            _tokens[token] = DateTime.UtcNow.AddSeconds(ttl);
            return Task.FromResult<FakeReply>(new FakeReply.Http(200, token, new Dictionary<string, string> { ["X-aws-ec2-metadata-token-ttl-seconds"] = ttl.ToString(CultureInfo.InvariantCulture) }));
        }
        if (request.Method != "GET") return Task.FromResult(FakeReply.Respond(405));
        var presented = request.Header("X-aws-ec2-metadata-token");
        if (presented is null ? !V1Enabled : !(_tokens.TryGetValue(presented, out var expires) && expires > DateTime.UtcNow))
            return Task.FromResult(FakeReply.Respond(401, "Unauthorized"));
        if (ScheduledMaintenanceStatus is { } failure && request.Path == "/latest/meta-data/events/maintenance/scheduled")
            return Task.FromResult(FakeReply.Respond(failure));
        string? body = request.Path switch
        {
            "/latest/meta-data/spot/instance-action" => InstanceAction,
            "/latest/meta-data/events/recommendations/rebalance" => Rebalance,
            "/latest/meta-data/events/maintenance/scheduled" => ScheduledMaintenance,
            "/latest/meta-data/instance-life-cycle" => "spot",
            "/latest/meta-data/instance-id" => "i-0123456789abcdef0",
            _ => null,
        };
        return Task.FromResult(body is null ? FakeReply.Respond(404, "Not Found") : FakeReply.Respond(200, body));
    }
}
