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
/// FileStream write + fsync and raw read; the persist's CPU time per GB and its pieces (hash, page-cache write,
/// fsync) measured alone; persist and raw write again while a CPU-bound loop keeps every core busy; then a size sweep
/// and the training overhead as a paired A/B with a 95 % interval.
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
        var armed = new ArmedPolicy();
        var options = new CheckpointerOptions { RunId = "bench", Policy = CheckpointPolicy.Manual, KeepLast = 2 };
        var armedOptions = new CheckpointerOptions { RunId = "bench", Policy = armed, KeepLast = 2 };
        var rawPath = Path.Combine(work, "raw.bin");
        long stateBytes = StateBytes(model, optimizer), stagingBytes;
        using var rawBuffer = new HostBuffer(stateBytes);

        // Each SpotCheckpoint measurement is paired with its baseline, taken right after it, so that both see the
        // same disk and machine state (the page cache, other processes); the medians of the pairs are reported.
        var stalls = new List<double>();
        var persists = new List<double>();
        var memcpys = new List<double>();
        var rawWrites = new List<double>();
        var persistCpu = new List<CpuTime>();
        var persistIdleCpu = new List<CpuTime>();
        var busyPersists = new List<double>();
        var busyRawWrites = new List<double>();
        var busyLoopSlowdowns = new List<double>();
        long persistedBytes = 0;
        PhaseTimes phases;
        await using (var ckpt = new Checkpointer(store, armedOptions).AddModule("model", model).AddOptimizer("optimizer", optimizer))
        {
            long step = 0;
            for (int i = 0; i <= Repeats; i++)
            {
                var (stall, persist, cpu) = await CheckpointThroughStepAsync(ckpt, armed, ++step);
                if (i == 0) continue; // the first one allocates and pre-touches the staging buffers
                stalls.Add(stall);
                persists.Add(persist);
                persistCpu.Add(cpu);
                persistIdleCpu.Add(IdleProcessCpu(TimeSpan.FromMilliseconds(persist)));
                persistedBytes = ckpt.Statistics.LastBytes;
                memcpys.Add(MeasureMemcpy(model, optimizer, rawBuffer));
                rawWrites.Add(MeasureRawWrite(rawPath, rawBuffer, stateBytes));
            }
            stagingBytes = ckpt.Statistics.StagingBytes;
            phases = PersistProfile.Measure(work, rawBuffer, stateBytes);

            // The busy-core condition: every core runs a CPU-bound loop during both the persist and the raw write.
            using var busy = new BusyCores(Environment.ProcessorCount);
            double busyRate = busy.Rate(TimeSpan.FromMilliseconds(500));
            for (int i = 0; i < 3; i++)
            {
                long before = busy.Iterations;
                var watch = Stopwatch.StartNew();
                var (_, persist, _) = await CheckpointThroughStepAsync(ckpt, armed, ++step);
                double rateDuring = (busy.Iterations - before) / watch.Elapsed.TotalSeconds;
                busyPersists.Add(persist);
                busyLoopSlowdowns.Add(1 - rateDuring / busyRate);
                busyRawWrites.Add(MeasureRawWrite(rawPath, rawBuffer, stateBytes));
            }
        }
        var cpuMedian = persistCpu.OrderBy(c => c.Total).ElementAt(persistCpu.Count / 2);
        double gb = persistedBytes / 1e9;
        var idleMedian = persistIdleCpu.OrderBy(c => c.Total).ElementAt(persistIdleCpu.Count / 2);
        double netCpu = Median(persistCpu.Zip(persistIdleCpu, (c, i) => (c - i).Total).ToList());
        Console.Error.WriteLine($"state {stateBytes / 1e6:F0} MB: stall {Median(stalls):F1} ms (memcpy {Median(memcpys):F1} ms), persist {Median(persists):F1} ms (raw write {Median(rawWrites):F1} ms)");
        Console.Error.WriteLine($"persist CPU {cpuMedian.Total / gb:F3} s/GB (user {cpuMedian.User / gb:F3}, system {cpuMedian.System / gb:F3}); alone: hash {phases.HashMs:F1} ms ({phases.HashCpuSeconds / gb:F3} s/GB), " +
            $"page-cache write {phases.WriteMs:F1} ms (user {phases.WriteCpuUserSeconds / gb:F3}, system {phases.WriteCpuSystemSeconds / gb:F3} s/GB), fsync {phases.FsyncMs:F1} ms; " +
            $"write+fsync 16 MiB {phases.Write16MiBWithFsyncMs:F1} ms, 4 MiB {phases.Write4MiBWithFsyncMs:F1} ms, two files in parallel {phases.TwoFilesInParallelWithFsyncMs:F1} ms");
        Console.Error.WriteLine($"persist CPU less the process's own idle CPU over as long a window: {netCpu / gb:F3} s/GB (idle baseline {idleMedian.Total / gb:F3} s/GB)");
        Console.Error.WriteLine($"busy cores: persist {Median(busyPersists):F1} ms, raw write {Median(busyRawWrites):F1} ms, the busy loop ran {Median(busyLoopSlowdowns) * 100:F1} % slower during the persist");

        var moduleSave = Repeat(3, () =>
        {
            model.save(Path.Combine(work, "model.bin"));
            ((TorchSharp.Modules.OptimizerHelper)optimizer).save_state_dict(Path.Combine(work, "optimizer.bin"));
        });

        var restores = new List<double>();
        var rawReads = new List<double>();
        var rawWarmReads = new List<double>();
        for (int i = 0; i <= Repeats; i++)
        {
            await using var ckpt = new Checkpointer(store, options).AddModule("model", model).AddOptimizer("optimizer", optimizer);
            var watch = Stopwatch.StartNew();
            await ckpt.ResumeAsync();
            double restore = watch.Elapsed.TotalMilliseconds;
            double read = MeasureRawRead(rawPath, rawBuffer, stateBytes, cold: true);
            double warmRead = MeasureRawRead(rawPath, rawBuffer, stateBytes, cold: false);
            if (i == 0) continue; // warm-up (JIT, the restore's buffers)
            restores.Add(restore);
            rawReads.Add(read);
            rawWarmReads.Add(warmRead);
        }
        double memcpy = Median(memcpys), rawWrite = Median(rawWrites), rawRead = Median(rawReads);
        Console.Error.WriteLine($"Module.save {moduleSave:F1} ms, restore {Median(restores):F1} ms (raw read {rawRead:F1} ms from the disk, {Median(rawWarmReads):F1} ms from the page cache)");

        (Interval95 Overhead, double SlowdownPct)? overhead = skipTraining ? null : await MeasureTrainingOverheadAsync(work, model, optimizer);
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
            RawReadWarmMs = Median(rawWarmReads),
            StagingPeakBytes = stagingBytes,
            TrainingOverheadPct = overhead?.Overhead.Mean,
            TrainingOverheadPctUpper95 = overhead?.Overhead.Upper,
            TrainingOverheadPctLower95 = overhead?.Overhead.Lower,
            TrainingOverheadPairs = overhead?.Overhead.Samples,
            PersistSlowdownPct = overhead is { } o && !double.IsNaN(o.SlowdownPct) ? o.SlowdownPct : null, // NaN: no step ran wholly during a persist
            PersistCpuSecondsPerGB = cpuMedian.Total / gb,
            PersistCpuNetSecondsPerGB = netCpu / gb,
            PersistCpuIdleBaselineSecondsPerGB = idleMedian.Total / gb,
            PersistCpuShares = new CpuShares
            {
                Hash = phases.HashCpuSeconds / cpuMedian.Total,
                CopyToPageCache = phases.WriteCpuSystemSeconds / cpuMedian.Total,
                UserWrite = phases.WriteCpuUserSeconds / cpuMedian.Total,
                Fsync = phases.FsyncCpuSeconds / cpuMedian.Total,
                SystemTotal = cpuMedian.System / cpuMedian.Total,
            },
            PersistPhases = phases,
            BusyPersistMs = Median(busyPersists),
            BusyRawWriteMs = Median(busyRawWrites),
            BusyLoopSlowdownDuringPersistPct = Median(busyLoopSlowdowns) * 100,
            Ratios = new Ratios
            {
                StallOverMemcpy = Median(stalls) / memcpy,
                ModuleSaveOverStall = moduleSave / Median(stalls),
                PersistOverRawWrite = Median(persists) / rawWrite,
                PersistBusyOverRawWrite = Median(busyPersists) / Median(busyRawWrites),
                // The restores read the same checkpoint again and again, so from the page cache: compared with a raw
                // read from the page cache, like with like (the cold read is reported beside it).
                RestoreOverRawRead = Median(restores) / Median(rawWarmReads),
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

    /// <summary>
    /// The same bytes read back with RandomAccess in 16 MiB reads (one timing). <paramref name="cold"/>: the file's
    /// pages are dropped from the page cache first (it is clean after its fsync), so the bytes come from the disk, as
    /// a restore's do on a fresh machine; the persist writes with O_DIRECT, so its shards are not cached either.
    /// </summary>
    private static double MeasureRawRead(string path, HostBuffer buffer, long bytes, bool cold)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        if (cold && OperatingSystem.IsLinux()) _ = PosixFadvise((int)handle.DangerousGetHandle(), 0, 0, 4 /* POSIX_FADV_DONTNEED */);
        var watch = Stopwatch.StartNew();
        for (long done = 0; done < bytes;)
        {
            int n = (int)Math.Min(16 << 20, bytes - done);
            int read = RandomAccess.Read(handle, buffer.Span(done, n), done);
            if (read == 0) break;
            done += read;
        }
        return watch.Elapsed.TotalMilliseconds;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "posix_fadvise")]
    private static extern int PosixFadvise(int fd, long offset, long length, int advice);

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
    /// One checkpoint through <see cref="Checkpointer.Step"/> and its persist awaited: stall and persist (ms) as the
    /// checkpointer measured them, and the process CPU time from the end of the stall to the end of the persist
    /// (the persist's work; retention included).
    /// </summary>
    private static async Task<(double Stall, double Persist, CpuTime Cpu)> CheckpointThroughStepAsync(Checkpointer ckpt, ArmedPolicy armed, long step)
    {
        armed.Arm();
        if (!ckpt.Step(step)) throw new InvalidOperationException("The armed checkpoint was not taken.");
        var cpu = CpuTime.Process();
        await ckpt.FlushAsync();
        var used = CpuTime.Process() - cpu;
        var stats = ckpt.Statistics;
        if (stats.LastError is { } error) throw new InvalidOperationException("The benchmark's checkpoint failed.", error);
        return (stats.LastStall.TotalMilliseconds, stats.LastPersistDuration.TotalMilliseconds, used);
    }

    /// <summary>
    /// The process's CPU time over <paramref name="window"/> while it does nothing measured: libtorch's worker threads,
    /// the runtime (GC, tiered JIT, timers). Subtracted from a persist's process CPU, it leaves the persist's own.
    /// </summary>
    private static CpuTime IdleProcessCpu(TimeSpan window)
    {
        var before = CpuTime.Process();
        Thread.Sleep(window);
        return CpuTime.Process() - before;
    }

    private const int OverheadPairs = 10;
    private const double OverheadIntervalSeconds = 10;

    /// <summary>
    /// Training overhead at a checkpoint every 10 s, as a paired A/B: each pair runs the same number of training
    /// steps (about 2.5 s) once without a checkpoint and once with one taken at its start, continuing until the
    /// persist has committed, in alternating order (AB, BA, ...) so drift cancels. A pair's overhead is the time the
    /// checkpoint cost (window B minus B's steps at A's pace) over 10 s; reported as the mean with a 95 % interval
    /// (Student's t over the pairs). Also returns the slowdown of steps while a persist is in flight.
    /// </summary>
    private static async Task<(Interval95 Overhead, double SlowdownPct)> MeasureTrainingOverheadAsync(string work, nn.Module<Tensor, Tensor> model, optim.Optimizer optimizer)
    {
        TrainSteps(model, optimizer, 3, batch: 64); // warm-up
        var store = new LocalFileStore(Path.Combine(work, "overhead"));
        var armed = new ArmedPolicy();
        await using var ckpt = new Checkpointer(store, new CheckpointerOptions { RunId = "overhead", Policy = armed, KeepLast = 1 })
            .AddModule("model", model).AddOptimizer("optimizer", optimizer);
        long step = 0;
        armed.Arm();
        ckpt.Step(++step);
        await ckpt.FlushAsync(); // staging is allocated once, outside the windows, as in a long run
        var warm = Stopwatch.StartNew();
        TrainSteps(model, optimizer, 3, batch: 64);
        int steps = Math.Max(5, (int)Math.Ceiling(2.5 / (warm.Elapsed.TotalSeconds / 3)));

        var overheads = new List<double>();
        double busySeconds = 0, busySteps = 0, cleanSeconds = 0, cleanSteps = 0;
        for (int pair = 0; pair < OverheadPairs; pair++)
        {
            double a = 0, b = 0;
            long bSteps = 0;
            foreach (bool checkpointing in pair % 2 == 0 ? new[] { false, true } : new[] { true, false })
            {
                if (!checkpointing)
                {
                    await ckpt.FlushAsync(); // no retention of the previous window runs in this one
                    var watch = Stopwatch.StartNew();
                    for (int i = 0; i < steps; i++)
                    {
                        TrainSteps(model, optimizer, 1, batch: 64);
                        ckpt.Step(++step);
                    }
                    a = watch.Elapsed.TotalSeconds;
                    cleanSeconds += a;
                    cleanSteps += steps;
                    continue;
                }
                await ckpt.FlushAsync(); // the previous persist (and its retention) has released the staging slot
                long committed = ckpt.Statistics.Committed;
                var window = Stopwatch.StartNew();
                armed.Arm();
                if (!ckpt.Step(++step)) throw new InvalidOperationException("The armed checkpoint was not taken."); // the stall is inside the window
                long done = 0;
                while (done < steps || (ckpt.Statistics.Committed == committed && window.Elapsed < TimeSpan.FromMinutes(1)))
                {
                    bool inFlight = ckpt.Statistics.Committed == committed;
                    var one = Stopwatch.StartNew();
                    TrainSteps(model, optimizer, 1, batch: 64);
                    ckpt.Step(++step);
                    done++;
                    // A step during which the commit landed ran partly with the persist: neither sample.
                    if (inFlight && ckpt.Statistics.Committed == committed) { busySeconds += one.Elapsed.TotalSeconds; busySteps++; }
                }
                b = window.Elapsed.TotalSeconds;
                bSteps = done;
            }
            double lost = b - bSteps * (a / steps);
            overheads.Add(lost / OverheadIntervalSeconds * 100);
        }
        var interval = Interval95.Of(overheads);
        double slowdown = busySteps > 0 && cleanSteps > 0 ? (1 - (cleanSeconds / cleanSteps) / (busySeconds / busySteps)) * 100 : double.NaN;
        Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"training: {steps} steps per window, overhead at one checkpoint per {OverheadIntervalSeconds:0} s {interval.Mean:F2} % (95 % interval {interval.Lower:F2} to {interval.Upper:F2} %, {interval.Samples} pairs); steps {slowdown:F1} % slower while a persist is in flight"));
        return (interval, slowdown);
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
    public double RawReadWarmMs { get; init; }
    public long StagingPeakBytes { get; init; }
    public double? TrainingOverheadPct { get; init; }
    public double? TrainingOverheadPctUpper95 { get; init; }
    public double? TrainingOverheadPctLower95 { get; init; }
    public int? TrainingOverheadPairs { get; init; }
    public double? PersistSlowdownPct { get; init; }
    public double PersistCpuSecondsPerGB { get; init; }
    public double PersistCpuNetSecondsPerGB { get; init; }
    public double PersistCpuIdleBaselineSecondsPerGB { get; init; }
    public CpuShares PersistCpuShares { get; init; } = new();
    public PhaseTimes PersistPhases { get; init; } = new();
    public double BusyPersistMs { get; init; }
    public double BusyRawWriteMs { get; init; }
    public double BusyLoopSlowdownDuringPersistPct { get; init; }
    public Ratios Ratios { get; init; } = new();
    public List<SweepPoint> SizeSweep { get; init; } = new();
    public string Machine { get; init; } = "";
}

internal sealed class Ratios
{
    public double StallOverMemcpy { get; init; }
    public double ModuleSaveOverStall { get; init; }
    public double PersistOverRawWrite { get; init; }
    public double PersistBusyOverRawWrite { get; init; }
    public double RestoreOverRawRead { get; init; }
    public double StagingOverState { get; init; }
}

/// <summary>Shares of the persist's CPU time: the pieces measured alone over the persist's total (they need not sum to 1).</summary>
internal sealed class CpuShares
{
    public double Hash { get; init; }
    public double CopyToPageCache { get; init; }
    public double UserWrite { get; init; }
    public double Fsync { get; init; }
    public double SystemTotal { get; init; }
}

internal sealed record SweepPoint(long Bytes, double StallMs, double PersistMs);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(QuickResult))]
internal sealed partial class QuickJson : JsonSerializerContext;
