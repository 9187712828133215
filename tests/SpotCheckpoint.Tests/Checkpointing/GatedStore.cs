using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Checkpointing;

/// <summary>A local store whose object writes wait until the test opens the gate (a slow or stalled store).</summary>
internal sealed class GatedStore(string root) : DelegatingStore(root)
{
    private TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int WritesStarted;

    private readonly TaskCompletionSource _firstWrite = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the first object write reaches the gate.</summary>
    public Task FirstWriteStarted => _firstWrite.Task;

    public void Open() => _gate.TrySetResult();

    public void Close() => _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override string Description => "gated:" + Inner.Description;

    public override async ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default)
    {
        if (key.Contains(ICheckpointStore.ProbeObjectPrefix, StringComparison.Ordinal)) return await Inner.OpenWriteAsync(key, cancellationToken); // the start-up probe is not gated
        Interlocked.Increment(ref WritesStarted);
        _firstWrite.TrySetResult();
        await _gate.Task.WaitAsync(cancellationToken);
        return await Inner.OpenWriteAsync(key, cancellationToken);
    }

    public override ValueTask DisposeAsync()
    {
        Open();
        return Inner.DisposeAsync();
    }
}
