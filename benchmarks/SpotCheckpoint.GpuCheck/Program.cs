// SpotCheckpoint GPU check: exercises the CUDA staging path (CudaRuntime, PinnedHostBuffer, CudaStagingCopier) on
// device memory from cudaMalloc alone (no libtorch), verifies every staged byte, and compares its device-to-host
// throughput with plain pinned and pageable cudaMemcpy. See docs/gpu-check.md.
//
// Exit codes: 0 all bytes verified; 1 a byte mismatch; 2 CUDA not available; 3 a CUDA call failed; 64 bad arguments.

using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Staging.Cuda;

namespace SpotCheckpoint.GpuCheck;

internal static unsafe class Program
{
    private const long MiB = 1L << 20;

    private static int Main(string[] args)
    {
        GpuCheckOptions options;
        try
        {
            options = GpuCheckOptions.Parse(args);
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine(ex.Message);
            Console.Error.WriteLine(GpuCheckOptions.Usage);
            return 64;
        }
        if (options.Help)
        {
            Console.WriteLine(GpuCheckOptions.Usage);
            return 0;
        }

        if (!CudaRuntime.TryLoad(out var reason))
        {
            Console.Error.WriteLine("CUDA not available: " + reason);
            Console.Error.WriteLine("Sonames tried through the system search: " + string.Join(", ", CudaRuntime.SonameCandidates) +
                ". Set LD_LIBRARY_PATH (or CUDA_PATH / CUDA_HOME) to the folder holding libcudart if it is installed elsewhere.");
            if (options.JsonPath is not null) WriteUnavailableJson(options.JsonPath, reason ?? "unknown");
            return 2;
        }

        try
        {
            return Run(options);
        }
        catch (InvalidOperationException ex)
        {
            Console.Error.WriteLine("A CUDA call failed: " + ex.Message);
            return 3;
        }
    }

    private static int Run(GpuCheckOptions o)
    {
        int deviceCount = CudaRuntime.GetDeviceCount();
        if (o.Device >= deviceCount)
        {
            Console.Error.WriteLine($"--device {o.Device} does not exist: {deviceCount} device(s) visible.");
            return 64;
        }
        CudaRuntime.SetDevice(o.Device);
        string deviceName = DriverInfo.DeviceName(o.Device) ?? "unknown";
        int runtimeVersion = CudaRuntime.RuntimeVersion();
        int driverVersion = CudaRuntime.DriverVersion();

        long totalBytes = o.MegaBytes * MiB;
        var sizes = new long[o.Tensors];
        for (int i = 0; i < o.Tensors; i++) sizes[i] = totalBytes / o.Tensors + (i == o.Tensors - 1 ? totalBytes % o.Tensors : 0);
        var offsets = new long[o.Tensors];
        for (int i = 1; i < o.Tensors; i++) offsets[i] = offsets[i - 1] + sizes[i - 1];

        Console.WriteLine("SpotCheckpoint GPU check");
        Console.WriteLine($"  device {o.Device}: {deviceName} ({deviceCount} visible), CUDA runtime {Version(runtimeVersion)}, driver supports {Version(driverVersion)}");
        Console.WriteLine($"  cudart: {CudaRuntime.LoadedFrom}");
        Console.WriteLine($"  data: {o.Tensors} buffers, {Human(totalBytes)} in all ({Human(sizes[0])} each), {o.Repeat} timed repeats after 1 warm-up, medians reported");

        var device = new IntPtr[o.Tensors];
        HostBuffer? expected = null;
        PinnedHostBuffer? pinned = null;
        HostBuffer? pageable = null;
        CudaStagingCopier? copier = null;
        CudaStagingCopier? unfenced = null;
        try
        {
            var setup = Stopwatch.StartNew();
            for (int i = 0; i < o.Tensors; i++) device[i] = CudaRuntime.Malloc(sizes[i]);

            // The expected bytes: a pattern that differs per buffer and per 8-byte word, uploaded with cudaMemcpy.
            expected = new HostBuffer(totalBytes);
            FillPattern(expected.Pointer, totalBytes);
            UploadPattern(device, sizes, offsets, expected);

            pinned = new PinnedHostBuffer(totalBytes);
            if (!o.NoPageable) pageable = new HostBuffer(totalBytes);
            copier = new CudaStagingCopier(o.Device);
            Console.WriteLine($"  setup (cudaMalloc, pattern upload, pinned + pageable host buffers): {setup.Elapsed.TotalSeconds:F2} s");
            Console.WriteLine();

            var copies = new DeviceToHostCopy[o.Tensors];
            for (int i = 0; i < o.Tensors; i++) copies[i] = new DeviceToHostCopy(device[i], sizes[i], (IntPtr)(pinned.Pointer + offsets[i]));

            var enqueueTimes = new List<double>();
            var oursTimes = new List<double>();
            var pinnedTimes = new List<double>();
            var pageableTimes = new List<double>();
            long mismatches = 0;
            var failures = new List<string>();

            for (int r = 0; r <= o.Repeat; r++)
            {
                bool warmUp = r == 0;

                // (a) SpotCheckpoint: pinned staging + CudaStagingCopier on its side stream.
                Clear(pinned);
                CudaRuntime.DeviceSynchronize();
                long t0 = Stopwatch.GetTimestamp();
                var handle = copier.Enqueue(copies);
                long t1 = Stopwatch.GetTimestamp();
                if (warmUp) handle.WaitAsync().GetAwaiter().GetResult(); // exercise the async path once
                else handle.Wait();
                long t2 = Stopwatch.GetTimestamp();
                if (!handle.IsComplete) failures.Add("handle not complete after Wait");
                mismatches += Verify(pinned, expected, totalBytes, "ours", r, failures);
                if (!warmUp)
                {
                    enqueueTimes.Add(Seconds(t0, t1));
                    oursTimes.Add(Seconds(t0, t2));
                }

                // (b) Baseline: plain cudaMemcpy into the same pinned memory.
                Clear(pinned);
                CudaRuntime.DeviceSynchronize();
                t0 = Stopwatch.GetTimestamp();
                for (int i = 0; i < o.Tensors; i++)
                    CudaRuntime.Memcpy(pinned.Pointer + offsets[i], (void*)device[i], sizes[i], CudaRuntime.MemcpyKind.DeviceToHost);
                t1 = Stopwatch.GetTimestamp();
                mismatches += Verify(pinned, expected, totalBytes, "pinned cudaMemcpy", r, failures);
                if (!warmUp) pinnedTimes.Add(Seconds(t0, t1));

                // (c) Reference: cudaMemcpy into pageable (pre-touched, not pinned) memory.
                if (pageable is not null)
                {
                    Clear(pageable);
                    CudaRuntime.DeviceSynchronize();
                    t0 = Stopwatch.GetTimestamp();
                    for (int i = 0; i < o.Tensors; i++)
                        CudaRuntime.Memcpy(pageable.Pointer + offsets[i], (void*)device[i], sizes[i], CudaRuntime.MemcpyKind.DeviceToHost);
                    t1 = Stopwatch.GetTimestamp();
                    mismatches += Verify(pageable, expected, totalBytes, "pageable cudaMemcpy", r, failures);
                    if (!warmUp) pageableTimes.Add(Seconds(t0, t1));
                }
            }

            // Ordering check: work queued on the default stream before the enqueue must be in the staged bytes, and
            // work queued after it (an in-place update) must not be, thanks to the fence.
            const byte Before = 0x77, After = 0x5A;
            Clear(pinned);
            CudaRuntime.DeviceSynchronize();
            for (int i = 0; i < o.Tensors; i++) CudaRuntime.Memset(device[i], Before, sizes[i]);
            var fenced = copier.Enqueue(copies);
            for (int i = 0; i < o.Tensors; i++) CudaRuntime.Memset(device[i], After, sizes[i]);
            fenced.Wait();
            long orderingBad = CountNot(pinned.Pointer, totalBytes, Before);
            CudaRuntime.DeviceSynchronize();
            long afterBad = 0;
            for (int i = 0; i < o.Tensors; i++)
            {
                byte probe;
                CudaRuntime.Memcpy(&probe, (byte*)device[i] + sizes[i] - 1, 1, CudaRuntime.MemcpyKind.DeviceToHost);
                if (probe != After) afterBad++;
            }
            if (orderingBad != 0) failures.Add($"ordering check: {orderingBad} staged bytes differ from the value written before the enqueue (or were overwritten after it)");
            if (afterBad != 0) failures.Add($"ordering check: the memset queued after the enqueue did not run on {afterBad} buffers");
            mismatches += orderingBad + afterBad;

            // For information only: the same without the fence shows why it is there (a race: may or may not tear).
            Clear(pinned);
            for (int i = 0; i < o.Tensors; i++) CudaRuntime.Memset(device[i], Before, sizes[i]);
            // FenceOptimizerStep without the optimizer-step call leaves the default stream unfenced.
            unfenced = new CudaStagingCopier(o.Device, CudaStagingMode.FenceOptimizerStep);
            var raced = unfenced.Enqueue(copies);
            for (int i = 0; i < o.Tensors; i++) CudaRuntime.Memset(device[i], After, sizes[i]);
            raced.Wait();
            CudaRuntime.DeviceSynchronize();
            long tornWithoutFence = CountNot(pinned.Pointer, totalBytes, Before);

            UploadPattern(device, sizes, offsets, expected);
            var (modeResults, baseline, computeMs) = MeasureModes(o, device, sizes, offsets, copies, pinned, expected, totalBytes, failures);
            mismatches += modeResults.Append(baseline).Count(m => !m.Verified);

            var result = new Result
            {
                Device = deviceName,
                DeviceIndex = o.Device,
                RuntimeVersion = Version(runtimeVersion),
                DriverVersion = Version(driverVersion),
                Cudart = CudaRuntime.LoadedFrom ?? "",
                Bytes = totalBytes,
                Tensors = o.Tensors,
                Repeat = o.Repeat,
                EnqueueSeconds = Median(enqueueTimes),
                OursSeconds = Median(oursTimes),
                PinnedSeconds = Median(pinnedTimes),
                PageableSeconds = pageableTimes.Count > 0 ? Median(pageableTimes) : double.NaN,
                OrderingCheckPassed = orderingBad == 0 && afterBad == 0,
                TornBytesWithoutFence = tornWithoutFence,
                Mismatches = mismatches,
                Failures = failures,
                EnqueueAll = enqueueTimes,
                OursAll = oursTimes,
                PinnedAll = pinnedTimes,
                PageableAll = pageableTimes,
            };
            PrintResult(result);
            Console.WriteLine();
            Console.Write(GpuCheckReport.Table(modeResults, baseline, totalBytes, computeMs));
            if (o.JsonPath is not null) WriteJson(o.JsonPath, result, modeResults, baseline);
            return mismatches == 0 && failures.Count == 0 ? 0 : 1;
        }
        finally
        {
            unfenced?.Dispose();
            copier?.Dispose();
            pinned?.Dispose();
            pageable?.Dispose();
            expected?.Dispose();
            foreach (var d in device)
            {
                if (d != IntPtr.Zero) CudaRuntime.Free(d);
            }
        }
    }

    private static void PrintResult(Result r)
    {
        double gb = r.Bytes / 1e9;
        Console.WriteLine($"{"path",-44} {"median time",12} {"GB/s",9}");
        Console.WriteLine($"{"(a) SpotCheckpoint: enqueue (training waits)",-44} {Ms(r.EnqueueSeconds),12}");
        Console.WriteLine($"{"(a) SpotCheckpoint: copy done (side stream)",-44} {Ms(r.OursSeconds),12} {gb / r.OursSeconds,9:F2}");
        Console.WriteLine($"{"(b) baseline: pinned cudaMemcpy",-44} {Ms(r.PinnedSeconds),12} {gb / r.PinnedSeconds,9:F2}");
        if (!double.IsNaN(r.PageableSeconds))
            Console.WriteLine($"{"(c) reference: pageable cudaMemcpy",-44} {Ms(r.PageableSeconds),12} {gb / r.PageableSeconds,9:F2}");
        Console.WriteLine();
        Console.WriteLine($"ratio ours / pinned cudaMemcpy (throughput): {r.PinnedSeconds / r.OursSeconds:F3}");
        Console.WriteLine($"training blocked: {Ms(r.EnqueueSeconds)} instead of {Ms(r.PinnedSeconds)} (pinned cudaMemcpy)" +
            (double.IsNaN(r.PageableSeconds) ? "" : $" or {Ms(r.PageableSeconds)} (pageable)"));
        Console.WriteLine($"ordering check (default-stream work before the enqueue is staged, work after it is fenced): {(r.OrderingCheckPassed ? "passed" : "FAILED")}");
        Console.WriteLine($"without the fence (information only): {r.TornBytesWithoutFence} of {r.Bytes} staged bytes were overwritten before being copied");
        foreach (var f in r.Failures.Take(20)) Console.WriteLine("FAILURE: " + f);
        Console.WriteLine(r.Mismatches == 0 && r.Failures.Count == 0
            ? $"VERIFIED: every byte of every copy matched ({r.Repeat + 1} rounds of each path)."
            : $"MISMATCH: {r.Mismatches} bytes differed.");
    }

    /// <summary>
    /// Each staging mode against plain pinned cudaMemcpy, with <see cref="GpuCheckOptions.ComputeMegaBytes"/> of
    /// device-to-device copies queued on the default stream after each snapshot (a stand-in for forward and backward,
    /// no libtorch): host blocked (the enqueue), device stall (CUDA events around the fence or clone), and the wall
    /// time until both the snapshot and the work are done. The last round of each mode also queues an in-place
    /// "optimizer step" after the fence and checks that the staged bytes are the ones from before it.
    /// </summary>
    private static (List<ModeMeasurement> Modes, ModeMeasurement Baseline, double ComputeMs) MeasureModes(
        GpuCheckOptions o, IntPtr[] device, long[] sizes, long[] offsets, DeviceToHostCopy[] copies, PinnedHostBuffer pinned, HostBuffer expected, long totalBytes, List<string> failures)
    {
        long computeBytes = o.ComputeMegaBytes * MiB / 2;
        IntPtr a = computeBytes > 0 ? CudaRuntime.Malloc(computeBytes) : IntPtr.Zero;
        IntPtr b = computeBytes > 0 ? CudaRuntime.Malloc(computeBytes) : IntPtr.Zero;
        void QueueCompute()
        {
            for (long off = 0; off < computeBytes; off += 256 * MiB)
                CudaRuntime.MemcpyAsync((byte*)b + off, (byte*)a + off, Math.Min(256 * MiB, computeBytes - off), CudaRuntime.MemcpyKind.DeviceToDevice, CudaRuntime.DefaultStream);
        }
        try
        {
            var computeTimes = new List<double>();
            for (int r = 0; r <= o.Repeat; r++)
            {
                CudaRuntime.DeviceSynchronize();
                long t0 = Stopwatch.GetTimestamp();
                QueueCompute();
                CudaRuntime.DeviceSynchronize();
                if (r > 0) computeTimes.Add(Seconds(t0, Stopwatch.GetTimestamp()) * 1e3);
            }

            var hostB = new List<double>();
            var totalB = new List<double>();
            bool baselineOk = true;
            for (int r = 0; r <= o.Repeat; r++)
            {
                Clear(pinned);
                CudaRuntime.DeviceSynchronize();
                long t0 = Stopwatch.GetTimestamp();
                for (int i = 0; i < o.Tensors; i++)
                    CudaRuntime.Memcpy(pinned.Pointer + offsets[i], (void*)device[i], sizes[i], CudaRuntime.MemcpyKind.DeviceToHost);
                long t1 = Stopwatch.GetTimestamp();
                QueueCompute();
                CudaRuntime.DeviceSynchronize();
                long t2 = Stopwatch.GetTimestamp();
                baselineOk &= Verify(pinned, expected, totalBytes, "modes baseline", r, failures) == 0;
                if (r == 0) continue;
                hostB.Add(Seconds(t0, t1) * 1e3);
                totalB.Add(Seconds(t0, t2) * 1e3);
            }
            // A synchronous cudaMemcpy holds the host and the default stream alike.
            var baseline = new ModeMeasurement(GpuCheckReport.BaselineName, Median(hostB), Median(hostB), Median(totalB), baselineOk);

            var results = new List<ModeMeasurement>();
            var modeCopies = copies.Select((c, i) => c with { ChangesInForward = i == 0 }).ToArray(); // buffer 0 stands for BatchNorm stats
            foreach (var mode in o.Modes)
            {
                using var copier = new CudaStagingCopier(o.Device, mode);
                var host = new List<double>();
                var stall = new List<double>();
                var total = new List<double>();
                bool ok = true;
                for (int r = 0; r <= o.Repeat; r++)
                {
                    bool last = r == o.Repeat;
                    Clear(pinned);
                    CudaRuntime.DeviceSynchronize();
                    long t0 = Stopwatch.GetTimestamp();
                    var handle = copier.Enqueue(modeCopies);
                    long t1 = Stopwatch.GetTimestamp();
                    QueueCompute();
                    copier.BeforeOptimizerStep();
                    if (last) for (int i = 0; i < o.Tensors; i++) CudaRuntime.Memset(device[i], 0x5A, sizes[i]); // the in-place update
                    handle.Wait();
                    CudaRuntime.DeviceSynchronize();
                    long t2 = Stopwatch.GetTimestamp();
                    ok &= Verify(pinned, expected, totalBytes, GpuCheckOptions.NameOf(mode), r, failures) == 0;
                    if (last) UploadPattern(device, sizes, offsets, expected);
                    if (r == 0) continue;
                    host.Add(Seconds(t0, t1) * 1e3);
                    stall.Add(handle.DeviceStall?.TotalMilliseconds ?? double.NaN);
                    total.Add(Seconds(t0, t2) * 1e3);
                }
                results.Add(new ModeMeasurement(GpuCheckOptions.NameOf(mode), Median(host), Median(stall), Median(total), ok));
            }
            return (results, baseline, Median(computeTimes));
        }
        finally
        {
            if (a != IntPtr.Zero) CudaRuntime.Free(a);
            if (b != IntPtr.Zero) CudaRuntime.Free(b);
        }
    }

    private static void WriteJson(string path, Result r, IReadOnlyList<ModeMeasurement> modes, ModeMeasurement baseline)
    {
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        double gb = r.Bytes / 1e9;
        w.WriteStartObject();
        w.WriteBoolean("cudaAvailable", true);
        w.WriteString("device", r.Device);
        w.WriteNumber("deviceIndex", r.DeviceIndex);
        w.WriteString("cudaRuntime", r.RuntimeVersion);
        w.WriteString("driverSupports", r.DriverVersion);
        w.WriteString("cudart", r.Cudart);
        w.WriteNumber("bytes", r.Bytes);
        w.WriteNumber("tensors", r.Tensors);
        w.WriteNumber("repeat", r.Repeat);
        w.WriteNumber("enqueueMs", r.EnqueueSeconds * 1e3);
        w.WriteNumber("oursMs", r.OursSeconds * 1e3);
        w.WriteNumber("oursGBps", gb / r.OursSeconds);
        w.WriteNumber("pinnedMemcpyMs", r.PinnedSeconds * 1e3);
        w.WriteNumber("pinnedMemcpyGBps", gb / r.PinnedSeconds);
        if (double.IsNaN(r.PageableSeconds))
        {
            w.WriteNull("pageableMemcpyMs");
            w.WriteNull("pageableMemcpyGBps");
        }
        else
        {
            w.WriteNumber("pageableMemcpyMs", r.PageableSeconds * 1e3);
            w.WriteNumber("pageableMemcpyGBps", gb / r.PageableSeconds);
        }
        w.WriteNumber("ratioOursToPinned", r.PinnedSeconds / r.OursSeconds);
        w.WriteBoolean("orderingCheckPassed", r.OrderingCheckPassed);
        w.WriteNumber("tornBytesWithoutFence", r.TornBytesWithoutFence);
        w.WriteNumber("mismatchedBytes", r.Mismatches);
        w.WriteBoolean("verified", r.Mismatches == 0 && r.Failures.Count == 0);
        WriteArray(w, "failures", r.Failures);
        w.WriteStartObject("samplesMs");
        WriteSamples(w, "enqueue", r.EnqueueAll);
        WriteSamples(w, "ours", r.OursAll);
        WriteSamples(w, "pinnedMemcpy", r.PinnedAll);
        WriteSamples(w, "pageableMemcpy", r.PageableAll);
        w.WriteEndObject();
        GpuCheckReport.WriteJson(w, modes, baseline);
        w.WriteEndObject();
    }

    private static void WriteUnavailableJson(string path, string reason)
    {
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteBoolean("cudaAvailable", false);
        w.WriteString("reason", reason);
        WriteArray(w, "tried", CudaRuntime.Tried);
        w.WriteEndObject();
    }

    private static void WriteArray(Utf8JsonWriter w, string name, IEnumerable<string> items)
    {
        w.WriteStartArray(name);
        foreach (var item in items) w.WriteStringValue(item);
        w.WriteEndArray();
    }

    private static void WriteSamples(Utf8JsonWriter w, string name, List<double> seconds)
    {
        w.WriteStartArray(name);
        foreach (var s in seconds) w.WriteNumberValue(Math.Round(s * 1e3, 4));
        w.WriteEndArray();
    }

    /// <summary>Each 8-byte word holds a mix of its index, so a copy to the wrong place or a missing copy shows.</summary>
    private static void FillPattern(byte* p, long bytes)
    {
        long words = bytes / 8;
        var basePtr = (IntPtr)p;
        const long Chunk = 1 << 20;
        Parallel.For(0, (words + Chunk - 1) / Chunk, c =>
        {
            ulong* w = (ulong*)basePtr;
            long end = Math.Min(words, (c + 1) * Chunk);
            for (long i = c * Chunk; i < end; i++) w[i] = Mix((ulong)i);
        });
        for (long i = words * 8; i < bytes; i++) p[i] = (byte)(Mix((ulong)i) >> 3);
    }

    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    private static void UploadPattern(IntPtr[] device, long[] sizes, long[] offsets, HostBuffer expected)
    {
        for (int i = 0; i < device.Length; i++)
            CudaRuntime.Memcpy((void*)device[i], expected.Pointer + offsets[i], sizes[i], CudaRuntime.MemcpyKind.HostToDevice);
        CudaRuntime.DeviceSynchronize();
    }

    private static void Clear(HostBuffer buffer)
    {
        var basePtr = (IntPtr)buffer.Pointer;
        long length = buffer.Length;
        const long Chunk = 64 * MiB;
        Parallel.For(0, (length + Chunk - 1) / Chunk, c =>
        {
            long start = c * Chunk;
            NativeMemory.Clear((byte*)basePtr + start, (nuint)Math.Min(Chunk, length - start));
        });
    }

    /// <summary>Compares every byte in parallel; returns the number of differing bytes (counted per differing 64 MiB chunk, exactly).</summary>
    private static long Verify(HostBuffer actual, HostBuffer expected, long bytes, string path, int round, List<string> failures)
    {
        var a = (IntPtr)actual.Pointer;
        var e = (IntPtr)expected.Pointer;
        const long Chunk = 64 * MiB;
        long bad = 0;
        long firstBad = long.MaxValue;
        Parallel.For(0, (bytes + Chunk - 1) / Chunk, c =>
        {
            long start = c * Chunk;
            int length = (int)Math.Min(Chunk, bytes - start);
            var x = new ReadOnlySpan<byte>((byte*)a + start, length);
            var y = new ReadOnlySpan<byte>((byte*)e + start, length);
            if (x.SequenceEqual(y)) return;
            long count = 0;
            long first = -1;
            for (int i = 0; i < length; i++)
            {
                if (x[i] == y[i]) continue;
                count++;
                if (first < 0) first = start + i;
            }
            Interlocked.Add(ref bad, count);
            long seen;
            do
            {
                seen = Interlocked.Read(ref firstBad);
            }
            while (first < seen && Interlocked.CompareExchange(ref firstBad, first, seen) != seen);
        });
        if (bad > 0) failures.Add($"{path}, round {round}: {bad} bytes differ, first at offset {firstBad}");
        return bad;
    }

    private static long CountNot(byte* p, long bytes, byte value)
    {
        var basePtr = (IntPtr)p;
        const long Chunk = 64 * MiB;
        long bad = 0;
        Parallel.For(0, (bytes + Chunk - 1) / Chunk, c =>
        {
            long start = c * Chunk;
            var span = new ReadOnlySpan<byte>((byte*)basePtr + start, (int)Math.Min(Chunk, bytes - start));
            if (span.IndexOfAnyExcept(value) < 0) return;
            long count = 0;
            foreach (var b in span)
            {
                if (b != value) count++;
            }
            Interlocked.Add(ref bad, count);
        });
        return bad;
    }

    private static double Seconds(long from, long to) => (to - from) / (double)Stopwatch.Frequency;

    private static double Median(List<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.OrderBy(v => v).ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    private static string Ms(double seconds) => seconds < 0.001
        ? (seconds * 1e6).ToString("F1", CultureInfo.InvariantCulture) + " us"
        : (seconds * 1e3).ToString("F2", CultureInfo.InvariantCulture) + " ms";

    private static string Human(long bytes) => bytes >= 1L << 30
        ? (bytes / (double)(1L << 30)).ToString("0.##", CultureInfo.InvariantCulture) + " GiB"
        : (bytes / (double)MiB).ToString("0.##", CultureInfo.InvariantCulture) + " MiB";

    private static string Version(int v) => v <= 0 ? "unknown" : $"{v / 1000}.{v % 1000 / 10}";

    private sealed class Result
    {
        public required string Device { get; init; }
        public required int DeviceIndex { get; init; }
        public required string RuntimeVersion { get; init; }
        public required string DriverVersion { get; init; }
        public required string Cudart { get; init; }
        public required long Bytes { get; init; }
        public required int Tensors { get; init; }
        public required int Repeat { get; init; }
        public required double EnqueueSeconds { get; init; }
        public required double OursSeconds { get; init; }
        public required double PinnedSeconds { get; init; }
        public required double PageableSeconds { get; init; }
        public required bool OrderingCheckPassed { get; init; }
        public required long TornBytesWithoutFence { get; init; }
        public required long Mismatches { get; init; }
        public required List<string> Failures { get; init; }
        public required List<double> EnqueueAll { get; init; }
        public required List<double> OursAll { get; init; }
        public required List<double> PinnedAll { get; init; }
        public required List<double> PageableAll { get; init; }
    }
}

/// <summary>The device's marketing name through the driver API (cuDeviceGetName); optional, for the report only.</summary>
internal static unsafe class DriverInfo
{
    public static string? DeviceName(int ordinal)
    {
        string[] names = OperatingSystem.IsWindows() ? ["nvcuda.dll"] : ["libcuda.so.1", "libcuda.so"];
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var lib)) continue;
            if (!NativeLibrary.TryGetExport(lib, "cuInit", out var init) ||
                !NativeLibrary.TryGetExport(lib, "cuDeviceGet", out var get) ||
                !NativeLibrary.TryGetExport(lib, "cuDeviceGetName", out var getName))
            {
                return null;
            }
            if (((delegate* unmanaged<uint, int>)init)(0) != 0) return null;
            int device;
            if (((delegate* unmanaged<int*, int, int>)get)(&device, ordinal) != 0) return null;
            var buffer = stackalloc byte[256];
            if (((delegate* unmanaged<byte*, int, int, int>)getName)(buffer, 256, device) != 0) return null;
            return Marshal.PtrToStringUTF8((IntPtr)buffer);
        }
        return null;
    }
}
