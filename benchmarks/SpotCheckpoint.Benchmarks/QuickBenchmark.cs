using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Benchmarks;

/// <summary>
/// The macro benchmark behind <c>--quick --json PATH</c>: a ~400 MB model + Adam state checkpointed the
/// SpotCheckpoint way and compared, in the same run, with plain memcpy, Module.save + save_state_dict, raw
/// FileStream write + fsync and raw read; then a size sweep and the training overhead.
/// </summary>
internal static class QuickBenchmark
{
    private const int Repeats = 5;

    public static async Task<int> RunAsync(string? jsonPath, bool skipTraining)
    {
        var work = Path.Combine(Path.GetTempPath(), "spotckpt-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            var result = await MeasureAsync(work, skipTraining);
            var text = JsonSerializer.Serialize(result, QuickJson.Default.QuickResult);
            Console.WriteLine(text);
            if (jsonPath is not null) await File.WriteAllTextAsync(jsonPath, text);
            return 0;
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
    }

    private static async Task<QuickResult> MeasureAsync(string work, bool skipTraining)
    {
        random.manual_seed(1);
        // 8 layers of 2048x2048 fp32 ≈ 134 MB of parameters; Adam's two moments triple it to ≈ 403 MB.
        var model = BenchModels.Mlp(8, 2048);
        var optimizer = optim.Adam(model.parameters(), lr: 1e-4);
        TrainSteps(model, optimizer, 1, batch: 8);

        var store = new LocalFileStore(Path.Combine(work, "store"));
        var options = new CheckpointerOptions { RunId = "bench", Policy = CheckpointPolicy.Manual, KeepLast = 2 };
        var rawPath = Path.Combine(work, "raw.bin");
        long stateBytes = StateBytes(model, optimizer), stagingBytes;
        using var rawBuffer = new HostBuffer(stateBytes);

        // Each SpotCheckpoint measurement is paired with its baseline, taken right after it, so that both see the
        // same disk and machine state (the page cache, other processes); the medians of the pairs are reported.
        var stalls = new List<double>();
        var persists = new List<double>();
        var memcpys = new List<double>();
        var rawWrites = new List<double>();
        await using (var ckpt = new Checkpointer(store, options).AddModule("model", model).AddOptimizer("optimizer", optimizer))
        {
            for (int i = 0; i <= Repeats; i++)
            {
                ckpt.Step(i + 1);
                var r = (await ckpt.CheckpointAsync())!;
                if (i == 0) continue; // the first one allocates and pre-touches the staging buffers
                stalls.Add(r.Stall.TotalMilliseconds);
                persists.Add(r.PersistDuration.TotalMilliseconds);
                memcpys.Add(MeasureMemcpy(model, optimizer, rawBuffer));
                rawWrites.Add(MeasureRawWrite(rawPath, rawBuffer, stateBytes));
            }
            stagingBytes = ckpt.Statistics.StagingBytes;
        }
        Console.Error.WriteLine($"state {stateBytes / 1e6:F0} MB: stall {Median(stalls):F1} ms (memcpy {Median(memcpys):F1} ms), persist {Median(persists):F1} ms (raw write {Median(rawWrites):F1} ms)");

        var moduleSave = Repeat(3, () =>
        {
            model.save(Path.Combine(work, "model.bin"));
            ((TorchSharp.Modules.OptimizerHelper)optimizer).save_state_dict(Path.Combine(work, "optimizer.bin"));
        });

        var restores = new List<double>();
        var rawReads = new List<double>();
        for (int i = 0; i <= Repeats; i++)
        {
            await using var ckpt = new Checkpointer(store, options).AddModule("model", model).AddOptimizer("optimizer", optimizer);
            var watch = Stopwatch.StartNew();
            await ckpt.ResumeAsync();
            double restore = watch.Elapsed.TotalMilliseconds;
            double read = MeasureRawRead(rawPath, rawBuffer, stateBytes);
            if (i == 0) continue; // warms the page cache for both
            restores.Add(restore);
            rawReads.Add(read);
        }
        double memcpy = Median(memcpys), rawWrite = Median(rawWrites), rawRead = Median(rawReads);
        Console.Error.WriteLine($"Module.save {moduleSave:F1} ms, restore {Median(restores):F1} ms (raw read {rawRead:F1} ms)");

        double? overhead = skipTraining ? null : await MeasureTrainingOverheadAsync(work, model, optimizer);
        var sweep = await SizeSweepAsync(work);

        return new QuickResult
        {
            StateBytes = stateBytes,
            StallMs = Median(stalls),
            MemcpyMs = memcpy,
            ModuleSaveMs = moduleSave,
            PersistMs = Median(persists),
            RawWriteMs = rawWrite,
            RestoreMs = Median(restores),
            RawReadMs = rawRead,
            StagingPeakBytes = stagingBytes,
            TrainingOverheadPct = overhead,
            Ratios = new Ratios
            {
                StallOverMemcpy = Median(stalls) / memcpy,
                ModuleSaveOverStall = moduleSave / Median(stalls),
                PersistOverRawWrite = Median(persists) / rawWrite,
                RestoreOverRawRead = Median(restores) / rawRead,
                StagingOverState = (double)stagingBytes / stateBytes,
            },
            SizeSweep = sweep,
            Machine = $"{Environment.ProcessorCount} cores, {Environment.OSVersion}",
        };
    }

    private static long StateBytes(nn.Module model, optim.Optimizer optimizer) =>
        model.parameters().Sum(p => p.numel() * 4) * 3;

    /// <summary>A warm, single-threaded copy of the same tensors into one pre-touched buffer (one timing).</summary>
    private static unsafe double MeasureMemcpy(nn.Module model, optim.Optimizer optimizer, HostBuffer buffer)
    {
        var sources = new List<(IntPtr, long)>();
        foreach (var p in model.parameters()) sources.Add((TensorMemory.DataPointer(p), TensorMemory.ByteLength(p)));
        var sd = ((TorchSharp.Modules.OptimizerHelper)optimizer).state_dict();
        foreach (TorchSharp.Modules.Adam.State s in sd.State)
        {
            sources.Add((TensorMemory.DataPointer(s.exp_avg), TensorMemory.ByteLength(s.exp_avg)));
            sources.Add((TensorMemory.DataPointer(s.exp_avg_sq), TensorMemory.ByteLength(s.exp_avg_sq)));
        }
        byte* dst = buffer.Pointer;
        var watch = Stopwatch.StartNew();
        long offset = 0;
        foreach (var (src, len) in sources)
        {
            Buffer.MemoryCopy((void*)src, dst + offset, len, len);
            offset += len;
        }
        return watch.Elapsed.TotalMilliseconds;
    }

    /// <summary>The same bytes written with FileStream in 16 MiB writes, then fsync (one timing).</summary>
    private static double MeasureRawWrite(string path, HostBuffer buffer, long bytes)
    {
        var watch = Stopwatch.StartNew();
        using (var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            for (long done = 0; done < bytes;)
            {
                int n = (int)Math.Min(16 << 20, bytes - done);
                stream.Write(buffer.Span(done, n));
                done += n;
            }
            stream.Flush(flushToDisk: true);
        }
        return watch.Elapsed.TotalMilliseconds;
    }

    /// <summary>The same bytes read back with RandomAccess in 16 MiB reads (one timing).</summary>
    private static double MeasureRawRead(string path, HostBuffer buffer, long bytes)
    {
        var watch = Stopwatch.StartNew();
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        for (long done = 0; done < bytes;)
        {
            int n = (int)Math.Min(16 << 20, bytes - done);
            int read = RandomAccess.Read(handle, buffer.Span(done, n), done);
            if (read == 0) break;
            done += read;
        }
        return watch.Elapsed.TotalMilliseconds;
    }

    private static void TrainSteps(nn.Module<Tensor, Tensor> model, optim.Optimizer optimizer, int steps, int batch)
    {
        for (int i = 0; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            var x = randn(batch, 2048);
            optimizer.zero_grad();
            model.forward(x).square().mean().backward();
            optimizer.step();
        }
    }

    /// <summary>
    /// Training throughput without checkpoints and with one every 10 s, in alternating 12 s windows (two of each),
    /// so both see the same machine. Returns the throughput lost, in percent.
    /// </summary>
    private static async Task<double> MeasureTrainingOverheadAsync(string work, nn.Module<Tensor, Tensor> model, optim.Optimizer optimizer)
    {
        var window = TimeSpan.FromSeconds(12);
        TrainSteps(model, optimizer, 3, batch: 64); // warm-up
        var store = new LocalFileStore(Path.Combine(work, "overhead"));
        await using var ckpt = new Checkpointer(store, new CheckpointerOptions { RunId = "overhead", Policy = CheckpointPolicy.Every(TimeSpan.FromSeconds(10)), KeepLast = 1 })
            .AddModule("model", model).AddOptimizer("optimizer", optimizer);
        long step = 0;
        ckpt.Step(step);
        await ckpt.CheckpointAsync(); // staging is allocated once, outside the windows, as in a long run
        double stepsWith = 0, secondsWith = 0, stepsWithout = 0, secondsWithout = 0;
        for (int round = 0; round < 2; round++)
        {
            foreach (bool checkpointing in new[] { false, true })
            {
                long steps = 0;
                var watch = Stopwatch.StartNew();
                while (watch.Elapsed < window)
                {
                    TrainSteps(model, optimizer, 1, batch: 64);
                    steps++;
                    step++;
                    if (checkpointing) ckpt.Step(step);
                }
                if (checkpointing) await ckpt.FlushAsync(); // a persist still running belongs to this window
                if (checkpointing) { stepsWith += steps; secondsWith += watch.Elapsed.TotalSeconds; }
                else { stepsWithout += steps; secondsWithout += watch.Elapsed.TotalSeconds; }
            }
        }
        double without = stepsWithout / secondsWithout, with = stepsWith / secondsWith;
        Console.Error.WriteLine($"training: {without:F3} steps/s without checkpoints, {with:F3} with one every 10 s ({ckpt.Statistics.Committed - 1} taken)");
        return (without - with) / without * 100;
    }

    private static async Task<List<SweepPoint>> SizeSweepAsync(string work)
    {
        var points = new List<SweepPoint>();
        foreach (var mb in new[] { 10, 100, 500, 1000, 2000 })
        {
            using var model = BenchModels.OfSize(mb);
            var store = new LocalFileStore(Path.Combine(work, $"sweep{mb}"));
            await using var ckpt = new Checkpointer(store, new CheckpointerOptions { RunId = "sweep", Policy = CheckpointPolicy.Manual, KeepLast = 1 })
                .AddModule("model", model);
            var stalls = new List<double>();
            var persists = new List<double>();
            for (int i = 0; i < 3; i++)
            {
                ckpt.Step(i + 1);
                var r = (await ckpt.CheckpointAsync())!;
                if (i == 0) continue;
                stalls.Add(r.Stall.TotalMilliseconds);
                persists.Add(r.PersistDuration.TotalMilliseconds);
            }
            long bytes = model.parameters().Sum(p => p.numel() * 4);
            points.Add(new SweepPoint(bytes, Median(stalls), Median(persists)));
            Console.Error.WriteLine($"sweep {bytes / 1e6:F0} MB: stall {Median(stalls):F1} ms, persist {Median(persists):F1} ms");
        }
        return points;
    }

    private static double Repeat(int times, Action action, bool warmUp = false)
    {
        if (warmUp) action();
        var samples = new List<double>();
        for (int i = 0; i < times; i++)
        {
            var watch = Stopwatch.StartNew();
            action();
            samples.Add(watch.Elapsed.TotalMilliseconds);
        }
        return Median(samples);
    }

    private static double Median(List<double> samples)
    {
        var sorted = samples.OrderBy(x => x).ToList();
        int n = sorted.Count;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}

internal sealed class QuickResult
{
    public long StateBytes { get; init; }
    public double StallMs { get; init; }
    public double MemcpyMs { get; init; }
    public double ModuleSaveMs { get; init; }
    public double PersistMs { get; init; }
    public double RawWriteMs { get; init; }
    public double RestoreMs { get; init; }
    public double RawReadMs { get; init; }
    public long StagingPeakBytes { get; init; }
    public double? TrainingOverheadPct { get; init; }
    public Ratios Ratios { get; init; } = new();
    public List<SweepPoint> SizeSweep { get; init; } = new();
    public string Machine { get; init; } = "";
}

internal sealed class Ratios
{
    public double StallOverMemcpy { get; init; }
    public double ModuleSaveOverStall { get; init; }
    public double PersistOverRawWrite { get; init; }
    public double RestoreOverRawRead { get; init; }
    public double StagingOverState { get; init; }
}

internal sealed record SweepPoint(long Bytes, double StallMs, double PersistMs);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(QuickResult))]
internal sealed partial class QuickJson : JsonSerializerContext;
