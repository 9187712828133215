using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Checkpointing;

/// <summary>A local store whose object writes wait until the test opens the gate (a slow or stalled store).</summary>
internal sealed class GatedStore(string root) : ICheckpointStore
{
    private readonly LocalFileStore _inner = new(root);
    private TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int WritesStarted;

    public void Open() => _gate.TrySetResult();

    public void Close() => _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Description => "gated:" + _inner.Description;

    public async ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref WritesStarted);
        await _gate.Task.WaitAsync(cancellationToken);
        return await _inner.OpenWriteAsync(key, cancellationToken);
    }

    public ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) =>
        _inner.CreateExclusiveAsync(key, content, cancellationToken);

    public ValueTask<int> ReadAsync(string key, long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
        _inner.ReadAsync(key, offset, destination, cancellationToken);

    public ValueTask<long?> GetLengthAsync(string key, CancellationToken cancellationToken = default) => _inner.GetLengthAsync(key, cancellationToken);

    public IAsyncEnumerable<StoredObject> ListAsync(string prefix, CancellationToken cancellationToken = default) => _inner.ListAsync(prefix, cancellationToken);

    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default) => _inner.DeleteAsync(key, cancellationToken);

    public ValueTask<int> CleanupIncompleteAsync(string prefix, TimeSpan olderThan, CancellationToken cancellationToken = default) =>
        _inner.CleanupIncompleteAsync(prefix, olderThan, cancellationToken);

    public ValueTask DisposeAsync()
    {
        Open();
        return _inner.DisposeAsync();
    }
}
