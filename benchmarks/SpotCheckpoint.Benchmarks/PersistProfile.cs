using System.Diagnostics;
using System.IO.Hashing;
using SpotCheckpoint.Staging;

namespace SpotCheckpoint.Benchmarks;

/// <summary>
/// Where a persist's time and CPU go, measured by running its pieces separately on the same staged bytes: XXH3
/// over the buffer, writes into the page cache (16 MiB and 4 MiB writes), the fsync, and the same bytes as two files
/// written in parallel. Wall times are medians of three; CPU times are the calling thread's (getrusage).
/// </summary>
internal static class PersistProfile
{
    public static PhaseTimes Measure(string directory, HostBuffer buffer, long bytes)
    {
        var hash = Median3(() => Hash(buffer, bytes));
        var write16 = Median3(() => Write(Path.Combine(directory, "p16.bin"), buffer, 0, bytes, 16 << 20, fsync: true));
        var write4 = Median3(() => Write(Path.Combine(directory, "p4.bin"), buffer, 0, bytes, 4 << 20, fsync: true));
        var parallel = Median3(() =>
        {
            var watch = Stopwatch.StartNew();
            long half = bytes / 2;
            var a = Task.Run(() => Write(Path.Combine(directory, "pa.bin"), buffer, 0, half, 16 << 20, fsync: true));
            var b = Task.Run(() => Write(Path.Combine(directory, "pb.bin"), buffer, half, bytes - half, 16 << 20, fsync: true));
            Task.WaitAll(a, b);
            return new Phase(watch.Elapsed.TotalMilliseconds, a.Result.Cpu + b.Result.Cpu, 0, default);
        });
        foreach (var f in new[] { "p16.bin", "p4.bin", "pa.bin", "pb.bin" }) File.Delete(Path.Combine(directory, f));
        return new PhaseTimes
        {
            HashMs = hash.Ms,
            HashCpuSeconds = hash.Cpu.Total,
            WriteMs = write16.Ms - write16.FsyncMs,
            WriteCpuUserSeconds = write16.Cpu.User - write16.FsyncCpu.User,
            WriteCpuSystemSeconds = write16.Cpu.System - write16.FsyncCpu.System,
            FsyncMs = write16.FsyncMs,
            FsyncCpuSeconds = write16.FsyncCpu.Total,
            Write4MiBWithFsyncMs = write4.Ms,
            Write16MiBWithFsyncMs = write16.Ms,
            TwoFilesInParallelWithFsyncMs = parallel.Ms,
        };
    }

    private static Phase Hash(HostBuffer buffer, long bytes)
    {
        var cpu = CpuTime.Thread();
        var watch = Stopwatch.StartNew();
        var hash = new XxHash3();
        for (long done = 0; done < bytes;)
        {
            int n = (int)Math.Min(16 << 20, bytes - done);
            hash.Append(buffer.Span(done, n));
            done += n;
        }
        GC.KeepAlive(hash.GetCurrentHashAsUInt64());
        return new Phase(watch.Elapsed.TotalMilliseconds, CpuTime.Thread() - cpu, 0, default);
    }

    private static Phase Write(string path, HostBuffer buffer, long offset, long bytes, int chunk, bool fsync)
    {
        File.Delete(path); // a new file each time, as a persist writes one
        var cpu = CpuTime.Thread();
        var watch = Stopwatch.StartNew();
        double fsyncMs = 0;
        CpuTime fsyncCpu = default;
        using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            for (long done = 0; done < bytes;)
            {
                int n = (int)Math.Min(chunk, bytes - done);
                stream.Write(buffer.Span(offset + done, n));
                done += n;
            }
            if (fsync)
            {
                var before = CpuTime.Thread();
                var syncWatch = Stopwatch.StartNew();
                stream.Flush(flushToDisk: true);
                fsyncMs = syncWatch.Elapsed.TotalMilliseconds;
                fsyncCpu = CpuTime.Thread() - before;
            }
        }
        return new Phase(watch.Elapsed.TotalMilliseconds, CpuTime.Thread() - cpu, fsyncMs, fsyncCpu);
    }

    private static Phase Median3(Func<Phase> measure)
    {
        var samples = new[] { measure(), measure(), measure() }.OrderBy(p => p.Ms).ToArray();
        return samples[1];
    }

    private readonly record struct Phase(double Ms, CpuTime Cpu, double FsyncMs, CpuTime FsyncCpu);
}

/// <summary>The pieces of a persist of the quick benchmark's state, each measured alone (see <see cref="PersistProfile"/>).</summary>
internal sealed class PhaseTimes
{
    public double HashMs { get; init; }
    public double HashCpuSeconds { get; init; }
    public double WriteMs { get; init; }
    public double WriteCpuUserSeconds { get; init; }
    public double WriteCpuSystemSeconds { get; init; }
    public double FsyncMs { get; init; }
    public double FsyncCpuSeconds { get; init; }
    public double Write16MiBWithFsyncMs { get; init; }
    public double Write4MiBWithFsyncMs { get; init; }
    public double TwoFilesInParallelWithFsyncMs { get; init; }
}
