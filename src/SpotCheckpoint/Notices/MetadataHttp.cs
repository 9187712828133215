using System.Net;
using System.Text.Json;
using SpotCheckpoint.Diagnostics;

namespace SpotCheckpoint.Notices;

/// <summary>HTTP plumbing shared by the metadata sources: a client that never uses a proxy, endpoint resolution, backoff.</summary>
internal static class MetadataHttp
{
    /// <summary>The link-local metadata address all three clouds use.</summary>
    public const string LinkLocal = "http://169.254.169.254";

    /// <summary>
    /// A client for a metadata service: no proxy (HTTP_PROXY must never capture a link-local request), no
    /// redirects, a short connect timeout, no overall timeout (each request sets its own).
    /// </summary>
    public static HttpClient CreateClient(TimeSpan connectTimeout) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        ConnectTimeout = connectTimeout,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        UseCookies = false,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>The endpoint: the option, else the environment variable, else the default.</summary>
    public static Uri Resolve(Uri? configured, string? environmentVariable, string fallback, Func<string, string>? fromVariable = null)
    {
        if (configured is not null) return Normalize(configured);
        var value = environmentVariable is null ? null : Environment.GetEnvironmentVariable(environmentVariable);
        if (!string.IsNullOrWhiteSpace(value))
        {
            var text = fromVariable is null ? value.Trim() : fromVariable(value.Trim());
            if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
                return Normalize(uri);
            throw new ArgumentException($"{environmentVariable}='{value}' is not an http:// endpoint.");
        }
        return new Uri(fallback + "/");
    }

    private static Uri Normalize(Uri uri) => uri.AbsoluteUri.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");

    /// <summary>Sends with a per-request timeout; a timeout surfaces as <see cref="TimeoutException"/>.</summary>
    public static async Task<Reply> SendAsync(HttpClient client, HttpRequestMessage request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, cts.Token).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(cts.Token).ConfigureAwait(false);
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers)) headers[name] = string.Join(",", values);
            return new Reply(response.StatusCode, body, headers);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"no reply from {request.RequestUri} in {timeout.TotalSeconds:0.#} s");
        }
    }

    /// <summary>A reply, read whole (metadata replies are small).</summary>
    public sealed record Reply(HttpStatusCode Status, string Body, IReadOnlyDictionary<string, string> Headers)
    {
        public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
    }

    /// <summary>A one-line description of a transport failure, for logs.</summary>
    public static string Describe(Exception ex) => ex switch
    {
        TimeoutException t => t.Message,
        HttpRequestException h => "request failed: " + (h.InnerException?.Message ?? h.Message),
        _ => ex.GetType().Name + ": " + ex.Message,
    };

    /// <summary>
    /// The poll loop every metadata source shares: runs <paramref name="pollOnce"/> until it returns null (done) or
    /// the token is cancelled, waiting the delay it returns after a success, and after a failure a backoff with
    /// jitter, logging the failure (repeats only sparsely). Failures never escape: training is never stopped here.
    /// </summary>
    public static async Task PollAsync(NoticeContext context, string source, Backoff backoff, Func<CancellationToken, Task<TimeSpan?>> pollOnce, CancellationToken cancellationToken)
    {
        var problems = new ProblemLog();
        while (!cancellationToken.IsCancellationRequested)
        {
            TimeSpan delay;
            try
            {
                if (await pollOnce(cancellationToken).ConfigureAwait(false) is not { } next) return;
                delay = next;
                backoff.Reset();
                problems.Clear();
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is not OperationCanceledException)
            {
                delay = backoff.Next();
                var problem = ex is MetadataProblemException ? ex.Message : Describe(ex);
                if (problems.ShouldLog(problem)) NoticeLog.PollFailed(context.Logger, source, problem, delay.TotalSeconds);
            }
            if (delay > TimeSpan.Zero) await Task.Delay(delay, context.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Parses a JSON object; false for an empty body, invalid JSON or another JSON value.</summary>
    public static bool TryParseObject(string body, out JsonElement root)
    {
        root = default;
        if (string.IsNullOrWhiteSpace(body)) return false;
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return false;
            root = doc.RootElement.Clone();
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>The start of a reply body on one line, for logs.</summary>
    public static string Shorten(string body) => body.Length <= 80 ? body.ReplaceLineEndings(" ") : body[..80].ReplaceLineEndings(" ") + "…";
}

/// <summary>Exponential backoff with jitter ("equal jitter": half fixed, half random), reset on success.</summary>
internal sealed class Backoff(TimeSpan initial, TimeSpan max)
{
    private int _failures;

    public int Failures => _failures;

    public void Reset() => _failures = 0;

    /// <summary>Counts a failure and returns how long to wait before the next try.</summary>
    public TimeSpan Next()
    {
        _failures++;
        double ceiling = Math.Min(max.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, Math.Min(_failures - 1, 20)));
        return TimeSpan.FromMilliseconds(ceiling / 2 + Random.Shared.NextDouble() * ceiling / 2);
    }
}

/// <summary>Logs a repeated problem once per distinct message, then only every so often, so a broken endpoint does not flood the log.</summary>
internal sealed class ProblemLog
{
    private string? _last;
    private int _repeats;

    /// <summary>True when this occurrence should be logged.</summary>
    public bool ShouldLog(string problem)
    {
        if (problem != _last) { _last = problem; _repeats = 0; return true; }
        _repeats++;
        return (_repeats & (_repeats - 1)) == 0; // 1, 2, 4, 8, … repeats
    }

    public void Clear() => _last = null;
}

/// <summary>A metadata service answered, but not usefully (throttled, refused, unexpected status). Retried with backoff.</summary>
internal sealed class MetadataProblemException(string message) : Exception(message);
