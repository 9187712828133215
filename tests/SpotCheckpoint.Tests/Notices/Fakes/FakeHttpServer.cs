using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SpotCheckpoint.Tests.Notices.Fakes;

/// <summary>A request as the fake server saw it.</summary>
internal sealed record FakeRequest(string Method, string Path, IReadOnlyDictionary<string, string> Query, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;

    public string? QueryValue(string name) => Query.TryGetValue(name, out var v) ? v : null;
}

/// <summary>What the fake server does with a request.</summary>
internal abstract record FakeReply
{
    /// <summary>An HTTP response.</summary>
    public sealed record Http(int Status, string Body = "", IReadOnlyDictionary<string, string>? Headers = null) : FakeReply;

    /// <summary>Never answer (a dropped packet, a hop limit): the client times out.</summary>
    public sealed record Hang : FakeReply;

    /// <summary>Close the connection without a byte (an empty reply).</summary>
    public sealed record Drop : FakeReply;

    public static FakeReply Respond(int status, string body = "") => new Http(status, body);
}

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 for the fake metadata services: one request per connection, the reply
/// chosen by a handler that may wait (long-polls) and may also hang or drop the connection.
/// </summary>
internal sealed class FakeHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<FakeRequest, CancellationToken, Task<FakeReply>> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly ConcurrentBag<Task> _connections = new();

    public FakeHttpServer(Func<FakeRequest, CancellationToken, Task<FakeReply>> handler)
    {
        _handler = handler;
        _listener.Start();
        Endpoint = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
        _accepting = AcceptAsync();
    }

    public Uri Endpoint { get; }

    /// <summary>Every request received, in order.</summary>
    public ConcurrentQueue<FakeRequest> Requests { get; } = new();

    /// <summary>Raised as each request has been received (and added to <see cref="Requests"/>), before it is answered.</summary>
    public event Action<FakeRequest>? RequestReceived;

    /// <summary>A port on 127.0.0.1 where nothing listens (connection refused).</summary>
    public static Uri ClosedEndpoint()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return new Uri($"http://127.0.0.1:{port}/");
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            _connections.Add(ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var request = await ReadRequestAsync(stream, _stop.Token);
                if (request is null) return;
                Requests.Enqueue(request);
                RequestReceived?.Invoke(request);
                var reply = await _handler(request, _stop.Token);
                switch (reply)
                {
                    case FakeReply.Hang:
                        await Task.Delay(Timeout.Infinite, _stop.Token);
                        return;
                    case FakeReply.Drop:
                        client.Client.LingerState = new LingerOption(true, 0);
                        return;
                    case FakeReply.Http http:
                        var body = Encoding.UTF8.GetBytes(http.Body);
                        var head = new StringBuilder();
                        head.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {http.Status} {ReasonPhrase(http.Status)}\r\n");
                        foreach (var (name, value) in http.Headers ?? new Dictionary<string, string>())
                            head.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
                        head.Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\nConnection: close\r\n\r\n");
                        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), _stop.Token);
                        await stream.WriteAsync(body, _stop.Token);
                        await stream.FlushAsync(_stop.Token);
                        return;
                }
            }
            catch (Exception) when (_stop.IsCancellationRequested) { }
            catch (IOException) { }
            catch (SocketException) { }
        }
    }

    private static async Task<FakeRequest?> ReadRequestAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new List<byte>();
        var chunk = new byte[4096];
        int headerEnd = -1;
        while (headerEnd < 0)
        {
            int n = await stream.ReadAsync(chunk, cancellationToken);
            if (n == 0) return null;
            buffer.AddRange(chunk.AsSpan(0, n).ToArray());
            headerEnd = IndexOf(buffer, "\r\n\r\n"u8.ToArray());
        }
        var head = Encoding.ASCII.GetString(buffer.GetRange(0, headerEnd).ToArray()).Split("\r\n");
        var requestLine = head[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in head.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        int length = headers.TryGetValue("Content-Length", out var cl) ? int.Parse(cl, CultureInfo.InvariantCulture) : 0;
        var body = buffer.Skip(headerEnd + 4).ToList();
        while (body.Count < length)
        {
            int n = await stream.ReadAsync(chunk, cancellationToken);
            if (n == 0) break;
            body.AddRange(chunk.AsSpan(0, n).ToArray());
        }
        var target = requestLine[1];
        int q = target.IndexOf('?', StringComparison.Ordinal);
        var query = new Dictionary<string, string>(StringComparer.Ordinal);
        if (q >= 0)
        {
            foreach (var pair in target[(q + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq < 0) query[Uri.UnescapeDataString(pair)] = "";
                else query[Uri.UnescapeDataString(pair[..eq])] = Uri.UnescapeDataString(pair[(eq + 1)..]);
            }
        }
        return new FakeRequest(requestLine[0], q >= 0 ? target[..q] : target, query, headers, Encoding.UTF8.GetString(body.ToArray()));
    }

    private static int IndexOf(List<byte> haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Count; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }

    private static string ReasonPhrase(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        await Task.WhenAll(_connections);
        _stop.Dispose();
    }
}
