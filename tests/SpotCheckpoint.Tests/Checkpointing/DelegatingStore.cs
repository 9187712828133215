using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Checkpointing;

/// <summary>A local store that test doubles derive from, overriding only the calls they change.</summary>
internal abstract class DelegatingStore(string root) : ICheckpointStore
{
    protected LocalFileStore Inner { get; } = new(root);

    public virtual string Description => Inner.Description;

    public virtual ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default) =>
        Inner.OpenWriteAsync(key, cancellationToken);

    public virtual ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) =>
        Inner.CreateExclusiveAsync(key, content, cancellationToken);

    public virtual ValueTask<int> ReadAsync(string key, long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
        Inner.ReadAsync(key, offset, destination, cancellationToken);

    public virtual ValueTask<long?> GetLengthAsync(string key, CancellationToken cancellationToken = default) => Inner.GetLengthAsync(key, cancellationToken);

    public virtual IAsyncEnumerable<StoredObject> ListAsync(string prefix, CancellationToken cancellationToken = default) => Inner.ListAsync(prefix, cancellationToken);

    public virtual ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default) => Inner.DeleteAsync(key, cancellationToken);

    public virtual ValueTask<int> CleanupIncompleteAsync(string prefix, TimeSpan olderThan, CancellationToken cancellationToken = default) =>
        Inner.CleanupIncompleteAsync(prefix, olderThan, cancellationToken);

    public virtual ValueTask DisposeAsync() => Inner.DisposeAsync();
}
