using System.Runtime.ExceptionServices;

namespace SpotCheckpoint.Storage;

/// <summary>
/// The streaming upload pipeline every object store shares: bytes are copied into part buffers; a full part is sent
/// as soon as the next byte arrives (so the last part is always known as last), up to <c>parallelism</c> parts are in
/// flight at once, and the caller only waits when all of them are busy. The first failed part cancels the others and
/// fails every later call; an incomplete writer aborts the upload when disposed.
/// </summary>
internal abstract class PartedObjectWriter : CheckpointObjectWriter
{
    private readonly PartBufferPool _pool;
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _abort = new();
    private readonly List<Task> _inFlight = new();
    private byte[]? _current;
    private int _filled;
    private int _parts;
    private long _length;
    private ExceptionDispatchInfo? _failure;
    private bool _completed;
    private bool _disposed;

    private readonly int _maxParts;

    protected PartedObjectWriter(string key, PartBufferPool pool, int parallelism, int maxParts = int.MaxValue)
    {
        Key = key;
        _maxParts = maxParts;
        _pool = pool;
        _slots = new SemaphoreSlim(parallelism, parallelism);
    }

    /// <summary>The store key being written.</summary>
    protected string Key { get; }

    /// <summary>Bytes accepted so far.</summary>
    protected long Length => _length;

    /// <summary>Uploads part <paramref name="partNumber"/> (1-based). Parts may run concurrently and out of order.</summary>
    protected abstract Task UploadPartAsync(int partNumber, ReadOnlyMemory<byte> data, bool isLast, CancellationToken cancellationToken);

    /// <summary>Makes the object visible after every part succeeded, then verifies what the store holds.</summary>
    protected abstract Task CommitAsync(int partCount, long length, CancellationToken cancellationToken);

    /// <summary>Discards whatever was uploaded (best effort; called at most once, never after a commit).</summary>
    protected abstract Task AbortAsync(CancellationToken cancellationToken);

    /// <inheritdoc />
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        EnsureWritable();
        while (!data.IsEmpty)
        {
            if (_current is not null && _filled == _current.Length)
                await DispatchAsync(isLast: false, cancellationToken).ConfigureAwait(false);
            if (_current is null)
            {
                _current = _pool.Rent();
                _filled = 0;
            }
            int n = Math.Min(data.Length, _current.Length - _filled);
            data.Span[..n].CopyTo(_current.AsSpan(_filled));
            _filled += n;
            _length += n;
            data = data[n..];
        }
    }

    /// <inheritdoc />
    public override async ValueTask CompleteAsync(CancellationToken cancellationToken = default)
    {
        EnsureWritable();
        _current ??= _pool.Rent();
        await DispatchAsync(isLast: true, cancellationToken).ConfigureAwait(false);
        await DrainAsync().ConfigureAwait(false);
        ThrowIfFailed();
        using var link = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _abort.Token);
        try
        {
            await CommitAsync(_parts, _length, link.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_failure is not null)
        {
            ThrowIfFailed();
            throw;
        }
        _completed = true;
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        // Parts still on the wire finish first (each is bounded by the operation timeout): a request cancelled on the
        // client can still land on the server after the abort and leave an orphan behind. After a failure the other
        // parts were cancelled already, so there is nothing to wait for.
        await DrainAsync().ConfigureAwait(false);
        if (_current is not null)
        {
            _pool.Return(_current);
            _current = null;
        }
        if (!_completed && _parts > 0)
        {
            // Bounded: an abort must never hang the caller's error path.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try { await AbortAsync(timeout.Token).ConfigureAwait(false); }
            catch (Exception ex) when (ex is not OutOfMemoryException) { OnAbortFailed(ex); }
        }
        _abort.Dispose();
        _slots.Dispose();
    }

    /// <summary>Called when <see cref="AbortAsync"/> failed; retention's clean-up removes the leftovers later.</summary>
    protected virtual void OnAbortFailed(Exception exception)
    {
    }

    private async Task DispatchAsync(bool isLast, CancellationToken cancellationToken)
    {
        using (var link = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _abort.Token))
        {
            try
            {
                await _slots.WaitAsync(link.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_failure is not null)
            {
                ThrowIfFailed();
            }
        }
        if (_parts >= _maxParts)
        {
            // Only reached when the length was not known up front (see PartPlan): refuse before sending more.
            _slots.Release();
            throw new CheckpointStoreException(
                $"Uploading '{Key}' needs more than {_maxParts} parts of {_pool.BufferSize} bytes, the store's limit: open the write with its length so that the part size is planned, or raise the part size.");
        }
        var buffer = _current!;
        int length = _filled;
        int number = ++_parts;
        _current = null;
        _filled = 0;
        var token = _abort.Token;
        _inFlight.Add(Task.Run(async () =>
        {
            try
            {
                await UploadPartAsync(number, buffer.AsMemory(0, length), isLast, token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                if (!(ex is OperationCanceledException && token.IsCancellationRequested && _failure is not null))
                    Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(ex), null);
                try { _abort.Cancel(); } catch (ObjectDisposedException) { }
            }
            finally
            {
                _pool.Return(buffer);
                _slots.Release();
            }
        }, CancellationToken.None));
        _inFlight.RemoveAll(t => t.IsCompleted);
    }

    private async Task DrainAsync()
    {
        var pending = _inFlight.ToArray();
        _inFlight.Clear();
        // Part tasks never throw (failures are recorded), so this only waits.
        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    private void EnsureWritable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed) throw new InvalidOperationException($"The object '{Key}' was completed already.");
        ThrowIfFailed();
    }

    private void ThrowIfFailed()
    {
        var failure = Volatile.Read(ref _failure);
        if (failure is null) return;
        if (failure.SourceException is CheckpointException) failure.Throw();
        throw new CheckpointStoreException($"Uploading '{Key}' failed: {failure.SourceException.Message}", failure.SourceException);
    }
}
