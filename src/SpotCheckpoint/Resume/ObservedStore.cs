using System.Runtime.CompilerServices;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Resume;

/// <summary>
/// Passes calls to a store and remembers the exceptions it threw, so that a failed restore can tell a store
/// error (retried, then "could not be read") from a failure of the restore itself (raised, never a fallback).
/// </summary>
internal sealed class ObservedStore(ICheckpointStore inner) : ICheckpointStore
{
    private readonly ConditionalWeakTable<Exception, object> _thrown = new();

    /// <summary>True when <paramref name="exception"/> (or an exception it wraps) came out of the store.</summary>
    public bool Threw(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
            if (_thrown.TryGetValue(e, out _)) return true;
        return exception is AggregateException aggregate && aggregate.InnerExceptions.Any(Threw);
    }

    public string Description => inner.Description;

    public async ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default)
    {
        try { return await inner.OpenWriteAsync(key, cancellationToken).ConfigureAwait(false); }
        catch (Exception ex) when (Mark(ex)) { throw; }
    }

    public async ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        try { await inner.CreateExclusiveAsync(key, content, cancellationToken).ConfigureAwait(false); }
        catch (Exception ex) when (Mark(ex)) { throw; }
    }

    public async ValueTask<int> ReadAsync(string key, long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        try { return await inner.ReadAsync(key, offset, destination, cancellationToken).ConfigureAwait(false); }
        catch (Exception ex) when (Mark(ex)) { throw; }
    }

    public async ValueTask<long?> GetLengthAsync(string key, CancellationToken cancellationToken = default)
    {
        try { return await inner.GetLengthAsync(key, cancellationToken).ConfigureAwait(false); }
        catch (Exception ex) when (Mark(ex)) { throw; }
    }

    public async IAsyncEnumerable<StoredObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var e = inner.ListAsync(prefix, cancellationToken).GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            try
            {
                if (!await e.MoveNextAsync().ConfigureAwait(false)) yield break;
            }
            catch (Exception ex) when (Mark(ex)) { throw; }
            yield return e.Current;
        }
    }

    public async ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        try { await inner.DeleteAsync(key, cancellationToken).ConfigureAwait(false); }
        catch (Exception ex) when (Mark(ex)) { throw; }
    }

    public async ValueTask<int> CleanupIncompleteAsync(string prefix, TimeSpan olderThan, CancellationToken cancellationToken = default)
    {
        try { return await inner.CleanupIncompleteAsync(prefix, olderThan, cancellationToken).ConfigureAwait(false); }
        catch (Exception ex) when (Mark(ex)) { throw; }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask; // the inner store is not ours

    private bool Mark(Exception ex)
    {
        _thrown.AddOrUpdate(ex, this);
        return false; // never handles: the exception passes on unchanged
    }
}
