using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Hosting.Tests;

/// <summary>A local store whose commits (manifest writes) wait for <see cref="CommitDelay"/> or for a gate.</summary>
internal sealed class DelayedCommitStore(string root) : ICheckpointStore
{
    private readonly LocalFileStore _inner = new(root);

    public TimeSpan CommitDelay { get; set; }
    public TaskCompletionSource? Gate { get; set; }
    public string Description => _inner.Description;

    public async ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        if (Gate is { } gate) await gate.Task.ConfigureAwait(false);
        await Task.Delay(CommitDelay, cancellationToken).ConfigureAwait(false);
        await _inner.CreateExclusiveAsync(key, content, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default) => _inner.OpenWriteAsync(key, cancellationToken);
    public ValueTask<int> ReadAsync(string key, long offset, Memory<byte> destination, CancellationToken cancellationToken = default) => _inner.ReadAsync(key, offset, destination, cancellationToken);
    public ValueTask<long?> GetLengthAsync(string key, CancellationToken cancellationToken = default) => _inner.GetLengthAsync(key, cancellationToken);
    public IAsyncEnumerable<StoredObject> ListAsync(string prefix, CancellationToken cancellationToken = default) => _inner.ListAsync(prefix, cancellationToken);
    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default) => _inner.DeleteAsync(key, cancellationToken);
    public ValueTask<int> CleanupIncompleteAsync(string prefix, TimeSpan olderThan, CancellationToken cancellationToken = default) => _inner.CleanupIncompleteAsync(prefix, olderThan, cancellationToken);
    public ValueTask DisposeAsync() => _inner.DisposeAsync();
}
