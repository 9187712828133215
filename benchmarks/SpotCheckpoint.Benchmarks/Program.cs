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
BenchmarkSwitcher.FromAssembly(typeof(QuickBenchmark).Assembly).Run(args);
return 0;
