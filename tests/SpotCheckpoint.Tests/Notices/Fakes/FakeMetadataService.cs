namespace SpotCheckpoint.Tests.Notices.Fakes;

/// <summary>
/// The common part of the fake metadata services: refuses X-Forwarded-For like the real ones, lets a test inject
/// failures (status codes, hangs, dropped connections, garbage) for the next matching requests, and lets it wait
/// until a request arrived.
/// </summary>
internal abstract class FakeMetadataService : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly List<(string? PathContains, FakeReply Reply)> _injected = new();

    protected FakeMetadataService()
    {
        Server = new FakeHttpServer(HandleAsync);
        Server.RequestReceived += _ => _arrived.Pulse();
    }

    private readonly ChangeSignal _arrived = new();

    public FakeHttpServer Server { get; }

    public Uri Endpoint => Server.Endpoint;

    public IReadOnlyList<FakeRequest> Requests => Server.Requests.ToArray();

    /// <summary>The next <paramref name="times"/> requests whose path contains <paramref name="pathContains"/> get <paramref name="reply"/>.</summary>
    public void InjectNext(FakeReply reply, int times = 1, string? pathContains = null)
    {
        lock (_gate)
        {
            for (int i = 0; i < times; i++) _injected.Add((pathContains, reply));
        }
    }

    public int Count(Func<FakeRequest, bool> predicate) => Server.Requests.Count(predicate);

    /// <summary>Waits until <paramref name="count"/> requests match.</summary>
    public Task WaitForRequestsAsync(Func<FakeRequest, bool> predicate, int count = 1, double timeoutSeconds = 20) =>
        _arrived.WaitUntilAsync(() => Count(predicate) >= count, timeoutSeconds,
            () => $"{GetType().Name}: expected {count} matching request(s), saw {Count(predicate)}");

    private async Task<FakeReply> HandleAsync(FakeRequest request, CancellationToken cancellationToken)
    {
        if (request.Header("X-Forwarded-For") is not null) return FakeReply.Respond(403, "Forbidden");
        FakeReply? injected = null;
        lock (_gate)
        {
            int i = _injected.FindIndex(x => x.PathContains is null || request.Path.Contains(x.PathContains, StringComparison.Ordinal));
            if (i >= 0)
            {
                injected = _injected[i].Reply;
                _injected.RemoveAt(i);
            }
        }
        return injected ?? await ServeAsync(request, cancellationToken);
    }

    protected abstract Task<FakeReply> ServeAsync(FakeRequest request, CancellationToken cancellationToken);

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
