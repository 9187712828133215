using BenchmarkDotNet.Attributes;
using SpotCheckpoint.Staging;
using static TorchSharp.torch;

namespace SpotCheckpoint.Benchmarks;

/// <summary>
/// The snapshot copy (what training waits for) against a plain single-threaded memcpy of the same bytes into a
/// pre-touched buffer, for a 64 MB model. Reported as a ratio to the memcpy baseline.
/// </summary>
[MemoryDiagnoser]
public class SnapshotBenchmarks
{
    private nn.Module<Tensor, Tensor> _model = null!;
    private List<Tensor> _tensors = null!;
    private StagingArena _arena = null!;
    private HostBuffer _flat = null!;

    [Params(64)]
    public int Megabytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _model = BenchModels.OfSize(Megabytes);
        _tensors = _model.parameters().Select(p => (Tensor)p).ToList();
        var layout = StagingLayout.Plan(_tensors.Select((t, i) => ($"t{i}", "F32", t.shape, TensorMemory.ByteLength(t))).ToList(), 1L << 30);
        _arena = new StagingArena(layout, length => new HostBuffer(length));
        _flat = new HostBuffer(layout.TotalBytes);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _arena.Dispose();
        _flat.Dispose();
        _model.Dispose();
    }

    /// <summary>One plain copy of every tensor into a warm buffer.</summary>
    [Benchmark(Baseline = true)]
    public unsafe void Memcpy()
    {
        long offset = 0;
        foreach (var t in _tensors)
        {
            long n = TensorMemory.ByteLength(t);
            Buffer.MemoryCopy((void*)TensorMemory.DataPointer(t), _flat.Pointer + offset, n, n);
            offset += n;
        }
    }

    /// <summary>The staging copy a snapshot performs.</summary>
    [Benchmark]
    public void StagingCopy() => TensorCopier.CopyAll(_tensors, _arena);
}
