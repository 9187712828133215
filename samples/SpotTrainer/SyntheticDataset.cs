using static TorchSharp.torch;

namespace SpotTrainer;

/// <summary>
/// A fixed synthetic classification set (a random teacher network labels random inputs), shuffled per epoch.
/// Its position (epoch, batch) is the user state SpotCheckpoint saves, so a resumed run sees the same batches.
/// </summary>
internal sealed class SyntheticDataset : IDisposable
{
    public const int Features = 64;
    public const int Classes = 10;
    private readonly Tensor _inputs;
    private readonly Tensor _labels;
    private readonly long _seed;
    private readonly int _batchSize;
    private long[] _order = [];
    private long _orderEpoch = -1;

    public SyntheticDataset(long seed, int samples, int batchSize)
    {
        _seed = seed;
        _batchSize = batchSize;
        var generator = new TorchSharp.torch.Generator((ulong)seed + 7);
        using var scope = NewDisposeScope();
        _inputs = randn(samples, Features, generator: generator).DetachFromDisposeScope();
        var teacher = randn(Features, Classes, generator: generator);
        _labels = _inputs.matmul(teacher).argmax(1).DetachFromDisposeScope();
    }

    /// <summary>Where the next batch comes from.</summary>
    public DataPosition Position { get; set; } = new(0, 0);

    public int BatchesPerEpoch => (int)(_inputs.shape[0] / _batchSize);

    /// <summary>The next batch; advances <see cref="Position"/>.</summary>
    public (Tensor Inputs, Tensor Labels) Next()
    {
        if (Position.Batch >= BatchesPerEpoch) Position = new(Position.Epoch + 1, 0);
        if (_orderEpoch != Position.Epoch)
        {
            var random = new Random(unchecked((int)(_seed * 31 + Position.Epoch)));
            _order = Enumerable.Range(0, (int)_inputs.shape[0]).Select(i => (long)i).ToArray();
            random.Shuffle(_order);
            _orderEpoch = Position.Epoch;
        }
        var indices = tensor(_order.AsSpan((int)(Position.Batch * _batchSize), _batchSize).ToArray());
        Position = Position with { Batch = Position.Batch + 1 };
        return (_inputs.index_select(0, indices), _labels.index_select(0, indices));
    }

    public void Dispose()
    {
        _inputs.Dispose();
        _labels.Dispose();
    }
}

/// <summary>A data loader position.</summary>
internal sealed record DataPosition(long Epoch, long Batch);
