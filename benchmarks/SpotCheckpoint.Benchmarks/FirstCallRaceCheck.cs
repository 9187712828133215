using System.Diagnostics;
using System.Text.Json;
using static TorchSharp.torch;

namespace SpotCheckpoint.Benchmarks;

/// <summary>
/// Counts fresh processes whose first multi-threaded call of an MKL vector-math function (sqrt, exp, log, tanh, sin,
/// erf) computes other bits than a later single-threaded call: "cold" processes call them straight away, "warm" ones
/// after creating a <see cref="Checkpointer"/> (which runs <see cref="DeterministicStartup.WarmUpVectorMath"/>). The
/// race needs both intra-op threads on a core at once, so the parent runs several children side by side and can spin
/// busy threads of its own.
/// </summary>
internal static class FirstCallRaceCheck
{
    private const int Elements = 65_536; // 32 grains of 2048: split across every intra-op thread

    private static readonly (string Name, Func<Tensor, Tensor> Function)[] Functions =
        [("sqrt", t => t.sqrt()), ("exp", t => t.exp()), ("log", t => t.log()), ("tanh", t => t.tanh()), ("sin", t => t.sin()), ("erf", t => t.erf())];

    /// <summary>The parent: <paramref name="processes"/> children, half cold and half warm, interleaved (all warm with <paramref name="warmOnly"/>).</summary>
    public static async Task<int> RunAsync(int processes, int parallel, int busyThreads, bool warmOnly, string? jsonPath)
    {
        using var stop = new CancellationTokenSource();
        var busy = Enumerable.Range(0, busyThreads).Select(_ => Task.Factory.StartNew(() => { while (!stop.IsCancellationRequested) { } }, TaskCreationOptions.LongRunning)).ToArray();
        var differing = new Dictionary<string, List<string>> { ["cold"] = [], ["warm"] = [] };
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, processes), new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (i, ct) =>
        {
            string mode = i % 2 == 0 && !warmOnly ? "cold" : "warm";
            string line = await RunChildAsync(mode, ct);
            if (line != "same") lock (differing) differing[mode].Add(line);
        });
        stop.Cancel();
        await Task.WhenAll(busy);
        int cold = warmOnly ? 0 : (processes + 1) / 2;
        Console.WriteLine($"first-call race: {processes} processes ({parallel} at once, {busyThreads} busy threads, {clock.Elapsed.TotalMinutes:F1} min)");
        foreach (var (mode, lines) in differing)
        {
            Console.WriteLine($"  {mode}: {lines.Count} of {(mode == "cold" ? cold : processes - cold)} differed");
            foreach (var line in lines) Console.WriteLine($"    {line}");
        }
        if (jsonPath is not null)
            await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new { processes, parallel, busyThreads, cold = differing["cold"], warm = differing["warm"] }));
        return differing["warm"].Count == 0 ? 0 : 1;
    }

    private static async Task<string> RunChildAsync(string mode, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") start.ArgumentList.Add(typeof(FirstCallRaceCheck).Assembly.Location);
        start.ArgumentList.Add("--first-call-probe");
        start.ArgumentList.Add(mode);
        using var child = Process.Start(start)!;
        string output = await child.StandardOutput.ReadToEndAsync(cancellationToken);
        await child.WaitForExitAsync(cancellationToken);
        return child.ExitCode == 0 ? output.Trim() : $"child exited with {child.ExitCode}";
    }

    /// <summary>The child: the first calls (after a parallel add, a multiply and a matmul), then the reference.</summary>
    public static int Probe(bool warm)
    {
        string? store = warm ? Directory.CreateTempSubdirectory("spotckpt-first-call-").FullName : null;
        if (store is not null) Checkpointer.Create(store).DisposeAsync().AsTask().GetAwaiter().GetResult();
        var data = new float[Elements];
        uint state = 12345;
        for (int i = 0; i < data.Length; i++) { state = state * 1664525 + 1013904223; data[i] = (state >> 8) * (0.9f / (1 << 24)) + 1e-3f; }
        using var x = tensor(data);
        // As in a training step: elementwise work, then an MKL matmul right before the first vector-math call.
        using (var sum = x + 1f) using (var doubled = sum * 2f) using (var square = x.reshape(256, 256)) using (var product = matmul(square, square)) { }
        var first = Functions.Select(f => { using var y = f.Function(x); return y.data<float>().ToArray(); }).ToArray();
        set_num_threads(1);
        var differing = new List<string>();
        for (int k = 0; k < Functions.Length; k++)
        {
            using var y = Functions[k].Function(x);
            var reference = y.data<float>().ToArray();
            var indices = Enumerable.Range(0, Elements).Where(i => BitConverter.SingleToUInt32Bits(reference[i]) != BitConverter.SingleToUInt32Bits(first[k][i])).ToArray();
            if (indices.Length > 0) differing.Add($"{Functions[k].Name}: {indices.Length} elements in [{indices[0]}, {indices[^1]}]");
        }
        Console.WriteLine(differing.Count == 0 ? "same" : string.Join("; ", differing));
        if (store is not null) Directory.Delete(store, recursive: true);
        return 0;
    }
}
