namespace SpotCheckpoint.Storage;

/// <summary>
/// A store that plans an upload from the object's length when it is known in advance (object stores choose the
/// part size so that the object fits the provider's part-count limit, or refuse before a byte is sent).
/// </summary>
public interface ILengthAwareCheckpointStore : ICheckpointStore
{
    /// <summary>
    /// Starts a streaming write of an object of exactly <paramref name="length"/> bytes; otherwise as
    /// <see cref="ICheckpointStore.OpenWriteAsync"/>. Throws <see cref="CheckpointStoreException"/> at once when the
    /// store cannot hold an object of that size.
    /// </summary>
    ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, long length, CancellationToken cancellationToken = default);
}

/// <summary>Length-aware writes on any store.</summary>
public static class CheckpointStoreWriteExtensions
{
    /// <summary>
    /// Starts a write of <paramref name="length"/> bytes: planned up front where the store supports it
    /// (<see cref="ILengthAwareCheckpointStore"/>), a plain streaming write otherwise.
    /// </summary>
    public static ValueTask<CheckpointObjectWriter> OpenWriteAsync(this ICheckpointStore store, string key, long length, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return store is ILengthAwareCheckpointStore planned
            ? planned.OpenWriteAsync(key, length, cancellationToken)
            : store.OpenWriteAsync(key, cancellationToken);
    }
}
