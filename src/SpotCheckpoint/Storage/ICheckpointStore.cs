namespace SpotCheckpoint.Storage;

/// <summary>
/// Where checkpoints live: a flat namespace of objects addressed by '/'-separated keys such as
/// <c>demo/step-00000037/manifest.json</c>. Object stores (S3, GCS, Azure Blob) and the local file system implement
/// it. Writes stream (an object is produced while it is written, never buffered whole), and an object becomes
/// visible only when its writer completes, so a crash never leaves a half-written object under its final key.
/// </summary>
public interface ICheckpointStore : IAsyncDisposable
{
    /// <summary>A description for logs, such as <c>file:///data/ckpt</c>. Never contains credentials.</summary>
    string Description { get; }

    /// <summary>
    /// Starts a streaming write of <paramref name="key"/>. Nothing is visible under the key until
    /// <see cref="CheckpointObjectWriter.CompleteAsync"/> succeeds; disposing an incomplete writer discards it.
    /// An existing object under the key is replaced on completion.
    /// </summary>
    ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes a small object only if no object exists under <paramref name="key"/> (the commit point of a
    /// checkpoint). Throws <see cref="CheckpointConflictException"/> when it exists already.
    /// </summary>
    ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads up to <paramref name="destination"/>.Length bytes of <paramref name="key"/> starting at
    /// <paramref name="offset"/>; returns the count read (less only at the end of the object).
    /// Throws <see cref="FileNotFoundException"/> when the object does not exist.
    /// </summary>
    ValueTask<int> ReadAsync(string key, long offset, Memory<byte> destination, CancellationToken cancellationToken = default);

    /// <summary>Returns the object's size, or null when it does not exist.</summary>
    ValueTask<long?> GetLengthAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Lists the committed objects whose keys start with <paramref name="prefix"/>.</summary>
    IAsyncEnumerable<StoredObject> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Deletes an object; deleting a missing object is not an error.</summary>
    ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes leftovers of writes that never completed (temporary files, unfinished multipart uploads) under
    /// <paramref name="prefix"/> that are older than <paramref name="olderThan"/>.
    /// </summary>
    ValueTask<int> CleanupIncompleteAsync(string prefix, TimeSpan olderThan, CancellationToken cancellationToken = default);

    /// <summary>
    /// Checks that objects can be written under <paramref name="prefix"/>: writes (the way shards are written) and
    /// deletes a small object there. The checkpointer calls it once at start; a store may override it with a cheaper
    /// authorised request. Throws what the failing call threw.
    /// </summary>
    async ValueTask ProbeAsync(string prefix, CancellationToken cancellationToken = default)
    {
        var key = prefix + ProbeObjectPrefix + Guid.NewGuid().ToString("N");
        await using (var writer = await OpenWriteAsync(key, cancellationToken).ConfigureAwait(false))
        {
            await writer.WriteAsync("probe"u8.ToArray(), cancellationToken).ConfigureAwait(false);
            await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }
        await DeleteAsync(key, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>How the name of the probe object starts (<c>&lt;run&gt;/.spotckpt-probe-&lt;id&gt;</c>).</summary>
    public const string ProbeObjectPrefix = ".spotckpt-probe-";
}

/// <summary>An object listed by <see cref="ICheckpointStore.ListAsync"/>.</summary>
/// <param name="Key">The object's key.</param>
/// <param name="Length">Its size in bytes.</param>
/// <param name="LastModified">When it was last written, when the store knows.</param>
public readonly record struct StoredObject(string Key, long Length, DateTimeOffset? LastModified);

/// <summary>A streaming writer of one object. See <see cref="ICheckpointStore.OpenWriteAsync"/>.</summary>
public abstract class CheckpointObjectWriter : IAsyncDisposable
{
    /// <summary>Appends bytes to the object.</summary>
    public abstract ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default);

    /// <summary>Makes the object durable and visible under its key.</summary>
    public abstract ValueTask CompleteAsync(CancellationToken cancellationToken = default);

    /// <summary>Discards the object if it was not completed.</summary>
    public abstract ValueTask DisposeAsync();
}
