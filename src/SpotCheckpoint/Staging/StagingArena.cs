namespace SpotCheckpoint.Staging;

/// <summary>
/// One set of host buffers holding a full snapshot, one buffer per shard, allocated for a layout and reused for
/// every checkpoint with the same layout. A snapshot's buffers stay untouched until its persist finishes.
/// </summary>
internal sealed class StagingArena : IDisposable
{
    public StagingArena(StagingLayout layout, Func<long, HostBuffer> allocate)
    {
        Layout = layout;
        Buffers = layout.ShardDataBytes.Select(allocate).ToArray();
    }

    public StagingLayout Layout { get; }

    public HostBuffer[] Buffers { get; }

    public long TotalBytes => Buffers.Sum(b => b.Length);

    public void Dispose()
    {
        foreach (var buffer in Buffers) buffer.Dispose();
    }
}
