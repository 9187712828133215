using System.Globalization;

namespace SpotCheckpoint.Tests.Notices.Fakes;

/// <summary>
/// The Compute Engine metadata server as documented: every request needs <c>Metadata-Flavor: Google</c> (403 HTML
/// otherwise); replies carry that header and an ETag; <c>?wait_for_change=true&amp;last_etag=E&amp;timeout_sec=N</c>
/// answers at once when E is not the current ETag, else at the next change or after N seconds (unchanged).
/// </summary>
internal sealed class FakeGcpMetadata : FakeMetadataService
{
    private readonly object _gate = new();
    private readonly Dictionary<string, (string Value, int Version)> _values = new(StringComparer.Ordinal)
    {
        ["instance/preempted"] = ("FALSE", 1),
        ["instance/maintenance-event"] = ("NONE", 1),
        ["instance/id"] = ("4520031799277581759", 1),
    };
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Replies leave out the Metadata-Flavor header (some other server answering on the address).</summary>
    public bool OmitFlavorHeader { get; set; }

    public int LongPolls(string key) => Count(r => r.Path.EndsWith(key, StringComparison.Ordinal) && r.QueryValue("wait_for_change") == "true");

    public void Set(string key, string value)
    {
        lock (_gate)
        {
            _values[key] = (value, _values.TryGetValue(key, out var old) ? old.Version + 1 : 1);
            _changed.TrySetResult();
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    private static string ETag(string key, int version) => $"{(uint)key.GetHashCode(StringComparison.Ordinal):x8}{version:x4}";

    protected override async Task<FakeReply> ServeAsync(FakeRequest request, CancellationToken cancellationToken)
    {
        if (request.Header("Metadata-Flavor") != "Google")
            return new FakeReply.Http(403, "<html><body>Missing Metadata-Flavor:Google header.</body></html>", new Dictionary<string, string> { ["Content-Type"] = "text/html" });
        const string prefix = "/computeMetadata/v1/";
        if (!request.Path.StartsWith(prefix, StringComparison.Ordinal)) return Reply(404, "Not Found", null);
        var key = request.Path[prefix.Length..];
        var until = DateTime.UtcNow.AddSeconds(int.TryParse(request.QueryValue("timeout_sec"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var t) ? t : 300);
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (!_values.TryGetValue(key, out var entry)) return Reply(404, "Not Found", null);
                var etag = ETag(key, entry.Version);
                if (request.QueryValue("wait_for_change") != "true" || request.QueryValue("last_etag") != etag || DateTime.UtcNow >= until)
                    return Reply(200, entry.Value, etag);
                changed = _changed.Task;
            }
            var left = until - DateTime.UtcNow;
            if (left > TimeSpan.Zero) await Task.WhenAny(changed, Task.Delay(left, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private FakeReply Reply(int status, string body, string? etag)
    {
        var headers = new Dictionary<string, string> { ["Content-Type"] = "application/text" };
        if (!OmitFlavorHeader) headers["Metadata-Flavor"] = "Google";
        if (etag is not null) headers["ETag"] = etag;
        return new FakeReply.Http(status, body, headers);
    }
}
