using System.Text.Json;
using System.Text.Json.Serialization;
using SpotCheckpoint.Format;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Benchmarks;

/// <summary>
/// <c>--incremental [--json PATH]</c>: a frozen-base model (4 frozen 2048x2048 layers, about 67 MB, and a trainable
/// 2048x128 head with Adam: about 95 % of the checkpoint's bytes frozen) checkpointed after each of several training steps,
/// once with full (version-1) checkpoints and once with incremental ones, in the same run. Reports per checkpoint the
/// bytes written, the bytes that actually changed since the previous checkpoint (chunks whose hash is new), and the
/// persist time; then the medians and the persist time ratio.
/// </summary>
internal static class IncrementalBenchmark
{
    private const int Checkpoints = 6;
    private const int Width = 2048;
    private const int HeadWidth = 128;

    public static async Task<int> RunAsync(string? jsonPath)
    {
        var work = Path.Combine(Path.GetTempPath(), "spotckpt-incr-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            var full = await MeasureAsync(Path.Combine(work, "full"), incremental: false);
            var incremental = await MeasureAsync(Path.Combine(work, "incremental"), incremental: true);
            // The first checkpoint of each writes everything; the steady state is what follows.
            static double Median(IEnumerable<double> v) { var s = v.Order().ToArray(); return s.Length == 0 ? 0 : (s[(s.Length - 1) / 2] + s[s.Length / 2]) / 2; }
            var steadyFull = full.Skip(1).ToList();
            var steadyIncr = incremental.Skip(1).ToList();
            var result = new IncrementalResult(
                FrozenFraction: FrozenFraction(),
                Full: full,
                Incremental: incremental,
                MedianFullBytes: Median(steadyFull.Select(c => (double)c.BytesWritten)),
                MedianIncrementalBytes: Median(steadyIncr.Select(c => (double)c.BytesWritten)),
                MedianChangedBytes: Median(steadyIncr.Select(c => (double)c.ChangedBytes)),
                BytesOverChanged: Median(steadyIncr.Select(c => c.ChangedBytes == 0 ? 0 : (double)c.BytesWritten / c.ChangedBytes)),
                MedianFullPersistMs: Median(steadyFull.Select(c => c.PersistMs)),
                MedianIncrementalPersistMs: Median(steadyIncr.Select(c => c.PersistMs)),
                PersistTimeRatio: Median(steadyIncr.Select(c => c.PersistMs)) / Math.Max(1e-9, Median(steadyFull.Select(c => c.PersistMs))));
            var text = JsonSerializer.Serialize(result, IncrementalJson.Default.IncrementalResult);
            Console.WriteLine(text);
            if (jsonPath is not null) await File.WriteAllTextAsync(jsonPath, text);
            return 0;
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
    }

    private static (nn.Module<Tensor, Tensor> Model, optim.Optimizer Optimizer) Create()
    {
        random.manual_seed(1);
        var frozen = BenchModels.Mlp(4, Width);
        foreach (var p in frozen.parameters()) p.requires_grad = false;
        var head = nn.Linear(Width, HeadWidth);
        var model = nn.Sequential(("base", frozen), ("head", head));
        return (model, optim.Adam(head.parameters(), lr: 1e-4));
    }

    private static double FrozenFraction()
    {
        double frozen = 4.0 * (Width * Width + Width);
        double trainable = 3.0 * (Width * HeadWidth + HeadWidth); // the head and Adam's two moments
        return frozen / (frozen + trainable);
    }

    private static async Task<List<CheckpointMeasurement>> MeasureAsync(string root, bool incremental)
    {
        var (model, optimizer) = Create();
        var store = new LocalFileStore(root);
        var options = new CheckpointerOptions { RunId = "bench", Policy = CheckpointPolicy.Manual, KeepLast = 2, Incremental = incremental };
        var results = new List<CheckpointMeasurement>();
        HashSet<string>? previous = null;
        await using (var ckpt = new Checkpointer(store, options).AddModule("model", model).AddOptimizer("optimizer", optimizer))
        {
            for (long step = 1; step <= Checkpoints; step++)
            {
                using (NewDisposeScope())
                {
                    optimizer.zero_grad();
                    model.forward(randn(8, Width)).square().mean().backward();
                    optimizer.step();
                }
                ckpt.Step(step);
                var committed = await ckpt.CheckpointAsync() ?? throw new InvalidOperationException("The benchmark's checkpoint was not taken.");
                await ckpt.FlushAsync();
                // What changed since the previous checkpoint, measured independently of the writer: chunks whose hash is new.
                var hashes = await ChunkHashesAsync(store, step);
                long changed = hashes.Where(h => previous is null || !previous.Contains(h.Key)).Sum(h => h.Value);
                previous = hashes.Keys.ToHashSet();
                results.Add(new CheckpointMeasurement(step, committed.Bytes, committed.BytesReused, changed, committed.PersistDuration.TotalMilliseconds));
            }
        }
        await store.DisposeAsync();
        model.Dispose();
        optimizer.Dispose();
        return results;
    }

    /// <summary>Every distinct 4 MiB chunk of the checkpoint's tensors by XXH3-128 (read back and hashed here, for either version).</summary>
    private static async Task<Dictionary<string, long>> ChunkHashesAsync(ICheckpointStore store, long step)
    {
        var reader = await CheckpointReader.OpenAsync(store, "bench", step);
        var hashes = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var t in reader.Manifest.Tensors)
        {
            var bytes = await reader.ReadTensorBytesAsync(t);
            for (int start = 0; start < bytes.Length; start += ChunkWriteSettings.DefaultChunkBytes)
            {
                var chunk = bytes.AsSpan(start, Math.Min(ChunkWriteSettings.DefaultChunkBytes, bytes.Length - start));
                hashes.TryAdd(Convert.ToHexString(System.IO.Hashing.XxHash128.Hash(chunk)) + ":" + chunk.Length, chunk.Length);
            }
        }
        return hashes;
    }
}

/// <summary>One checkpoint of the incremental benchmark.</summary>
internal sealed record CheckpointMeasurement(long Step, long BytesWritten, long BytesReused, long ChangedBytes, double PersistMs);

/// <summary>The incremental benchmark's report (JSON).</summary>
internal sealed record IncrementalResult(
    double FrozenFraction,
    List<CheckpointMeasurement> Full,
    List<CheckpointMeasurement> Incremental,
    double MedianFullBytes,
    double MedianIncrementalBytes,
    double MedianChangedBytes,
    double BytesOverChanged,
    double MedianFullPersistMs,
    double MedianIncrementalPersistMs,
    double PersistTimeRatio);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(IncrementalResult))]
internal sealed partial class IncrementalJson : JsonSerializerContext;
