namespace SpotCheckpoint.Staging.Cuda;

/// <summary>One <see cref="CudaStagingCopier"/> per device, created on first use and kept for the owner's lifetime.</summary>
/// <param name="mode">The staging mode of every copier (<see cref="CudaStagingMode.FenceDefaultStream"/> by default).</param>
internal sealed class CudaStagingCopierPool(CudaStagingMode mode = CudaStagingMode.FenceDefaultStream) : IDisposable
{
    private readonly Dictionary<int, CudaStagingCopier> _copiers = new();
    private bool _disposed;

    /// <summary>The staging mode of the copiers.</summary>
    public CudaStagingMode Mode => mode;

    /// <summary>With <see cref="CudaStagingMode.FenceOptimizerStep"/>: places each device's pending wait before the optimizer step.</summary>
    public void BeforeOptimizerStep()
    {
        if (mode != CudaStagingMode.FenceOptimizerStep) return;
        lock (_copiers)
        {
            foreach (var copier in _copiers.Values) copier.BeforeOptimizerStep();
        }
    }

    /// <summary>The copier for <paramref name="device"/> (see <see cref="CudaStagingCopier"/>).</summary>
    public CudaStagingCopier For(int device)
    {
        lock (_copiers)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_copiers.TryGetValue(device, out var copier))
            {
                copier = new CudaStagingCopier(device, mode);
                _copiers.Add(device, copier);
            }
            return copier;
        }
    }

    /// <summary>Waits for the copies still running and releases every stream and event.</summary>
    public void Dispose()
    {
        lock (_copiers)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var copier in _copiers.Values) copier.Dispose();
            _copiers.Clear();
        }
    }
}
