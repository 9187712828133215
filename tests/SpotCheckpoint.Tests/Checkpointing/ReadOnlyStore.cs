using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Checkpointing;

/// <summary>A store whose writes always fail, as a full disk or a revoked credential would; reads still work.</summary>
internal sealed class ReadOnlyStore(string root) : DelegatingStore(root)
{
    public override string Description => "read-only:" + Inner.Description;

    public override ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default) =>
        throw new IOException("The store is read-only.");

    public override ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) =>
        throw new IOException("The store is read-only.");
}
