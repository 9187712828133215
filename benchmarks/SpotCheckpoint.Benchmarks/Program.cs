using BenchmarkDotNet.Running;
using SpotCheckpoint.Benchmarks;

// --quick [--json PATH]: the macro benchmark (about 2 minutes); anything else goes to BenchmarkDotNet.
if (args.Contains("--quick"))
{
    int at = Array.IndexOf(args, "--json");
    string? json = at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    return await QuickBenchmark.RunAsync(json, skipTraining: args.Contains("--no-training"));
}
// --incremental [--json PATH]: full against incremental checkpoints of a frozen-base model (about a minute).
if (args.Contains("--incremental"))
{
    int at = Array.IndexOf(args, "--json");
    return await IncrementalBenchmark.RunAsync(at >= 0 && at + 1 < args.Length ? args[at + 1] : null);
}
// --first-call-race [--processes N] [--parallel P] [--busy B] [--warm-only] [--json PATH]: fresh processes whose first MKL
// vector-math call differs, without and with DeterministicStartup.WarmUpVectorMath (about 3 minutes for 400).
if (args.Contains("--first-call-race"))
{
    int Option(string name, int fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback; }
    int at = Array.IndexOf(args, "--json");
    return await FirstCallRaceCheck.RunAsync(Option("--processes", 400), Option("--parallel", 4), Option("--busy", 2), args.Contains("--warm-only"), at >= 0 && at + 1 < args.Length ? args[at + 1] : null);
}
if (args.Contains("--first-call-probe")) return FirstCallRaceCheck.Probe(warm: args.Contains("warm"));
BenchmarkSwitcher.FromAssembly(typeof(QuickBenchmark).Assembly).Run(args);
return 0;
