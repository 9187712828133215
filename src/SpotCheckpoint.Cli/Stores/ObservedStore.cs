using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Stores;

/// <summary>
/// Passes every call to another store, reporting the bytes read (for progress bars) and recording the keys deleted.
/// With <see cref="DryRun"/>, deletes are recorded but not done and incomplete uploads are left alone.
/// </summary>
internal sealed class ObservedStore(ICheckpointStore inner) : ICheckpointStore
{
    private readonly List<string> _deleted = new();

    /// <summary>Called with the byte count of every read.</summary>
    public Action<long>? BytesRead { get; set; }

    /// <summary>Record deletes without doing them.</summary>
    public bool DryRun { get; set; }

    /// <summary>The keys deleted (or that would have been), in order.</summary>
    public IReadOnlyList<string> Deleted { get { lock (_deleted) return _deleted.ToArray(); } }

    public string Description => inner.Description;

    public async ValueTask<int> ReadAsync(string key, long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        int read = await inner.ReadAsync(key, offset, destination, cancellationToken).ConfigureAwait(false);
        BytesRead?.Invoke(read);
        return read;
    }

    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        lock (_deleted) _deleted.Add(key);
        return DryRun ? ValueTask.CompletedTask : inner.DeleteAsync(key, cancellationToken);
    }

    public ValueTask<int> CleanupIncompleteAsync(string prefix, TimeSpan olderThan, CancellationToken cancellationToken = default) =>
        DryRun ? ValueTask.FromResult(0) : inner.CleanupIncompleteAsync(prefix, olderThan, cancellationToken);

    public ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default) => inner.OpenWriteAsync(key, cancellationToken);
    public ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) => inner.CreateExclusiveAsync(key, content, cancellationToken);
    public ValueTask<long?> GetLengthAsync(string key, CancellationToken cancellationToken = default) => inner.GetLengthAsync(key, cancellationToken);
    public IAsyncEnumerable<StoredObject> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

    /// <summary>The inner store is not disposed: its owner does that.</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
