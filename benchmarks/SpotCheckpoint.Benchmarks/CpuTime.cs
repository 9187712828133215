using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SpotCheckpoint.Benchmarks;

/// <summary>
/// CPU time consumed, split into user and system (kernel) seconds: <c>getrusage</c> on Linux (the calling thread
/// or the whole process), the process total elsewhere (all user). CPU time barely moves when other processes load the
/// machine, unlike wall time, so it resolves small costs on a noisy machine.
/// </summary>
internal readonly record struct CpuTime(double User, double System)
{
    private const int RusageSelf = 0;
    private const int RusageThread = 1;

    public double Total => User + System;

    public static CpuTime operator -(CpuTime a, CpuTime b) => new(a.User - b.User, a.System - b.System);

    public static CpuTime operator +(CpuTime a, CpuTime b) => new(a.User + b.User, a.System + b.System);

    /// <summary>CPU time of the whole process so far.</summary>
    public static CpuTime Process() => OperatingSystem.IsLinux() ? Rusage(RusageSelf) : new(global::System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds, 0);

    /// <summary>CPU time of the calling thread so far (the process's where the OS offers no per-thread figure).</summary>
    public static CpuTime Thread() => OperatingSystem.IsLinux() ? Rusage(RusageThread) : Process();

    private static unsafe CpuTime Rusage(int who)
    {
        // struct rusage on 64-bit Linux: two struct timeval (tv_sec, tv_usec as longs), then 14 longs.
        long* buffer = stackalloc long[18];
        if (getrusage(who, buffer) != 0) throw new InvalidOperationException($"getrusage failed: errno {Marshal.GetLastPInvokeError()}");
        return new(buffer[0] + buffer[1] / 1e6, buffer[2] + buffer[3] / 1e6);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern unsafe int getrusage(int who, long* usage);
}

/// <summary>
/// The busy-core condition: one CPU-bound "training loop" thread per core doing floating-point work until disposed,
/// as a training process keeps its cores busy (data loading, the loop, the driver). Counts its iterations so that
/// the slowdown it suffers while something else runs can be read off.
/// </summary>
internal sealed class BusyCores : IDisposable
{
    private readonly Thread[] _threads;
    private readonly long[] _iterations;
    private volatile bool _stop;

    public BusyCores(int threads)
    {
        _iterations = new long[threads * 16]; // one cache line apart
        _threads = new Thread[threads];
        for (int i = 0; i < threads; i++)
        {
            int slot = i * 16;
            _threads[i] = new Thread(() => Spin(slot)) { IsBackground = true, Name = $"busy-{i}" };
            _threads[i].Start();
        }
    }

    /// <summary>Iterations of all threads so far.</summary>
    public long Iterations
    {
        get
        {
            long sum = 0;
            for (int i = 0; i < _threads.Length; i++) sum += Volatile.Read(ref _iterations[i * 16]);
            return sum;
        }
    }

    /// <summary>Iterations per second over <paramref name="duration"/>.</summary>
    public double Rate(TimeSpan duration)
    {
        long before = Iterations;
        var watch = Stopwatch.StartNew();
        System.Threading.Thread.Sleep(duration);
        return (Iterations - before) / watch.Elapsed.TotalSeconds;
    }

    private void Spin(int slot)
    {
        // A 64x64 matrix-vector loop: CPU-bound, in cache, like a small dense layer.
        var m = new float[64 * 64];
        var v = new float[64];
        var r = new float[64];
        for (int i = 0; i < m.Length; i++) m[i] = (i % 7) * 0.01f;
        for (int i = 0; i < v.Length; i++) v[i] = 1;
        while (!_stop)
        {
            for (int row = 0; row < 64; row++)
            {
                float sum = 0;
                for (int col = 0; col < 64; col++) sum += m[row * 64 + col] * v[col];
                r[row] = sum;
            }
            (v, r) = (r, v);
            v[0] = 1;
            Volatile.Write(ref _iterations[slot], _iterations[slot] + 1);
        }
    }

    public void Dispose()
    {
        _stop = true;
        foreach (var t in _threads) t.Join();
    }
}

/// <summary>Mean and 95 % interval (Student's t) of paired differences.</summary>
internal readonly record struct Interval95(double Mean, double Lower, double Upper, int Samples)
{
    // Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom.
    private static readonly double[] T975 =
    [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];

    public static Interval95 Of(IReadOnlyList<double> samples)
    {
        int n = samples.Count;
        if (n < 2) throw new ArgumentException("At least two samples.", nameof(samples));
        double mean = samples.Average();
        double variance = samples.Sum(x => (x - mean) * (x - mean)) / (n - 1);
        double t = n - 1 <= T975.Length ? T975[n - 2] : 1.96;
        double half = t * Math.Sqrt(variance / n);
        return new(mean, mean - half, mean + half, n);
    }
}
