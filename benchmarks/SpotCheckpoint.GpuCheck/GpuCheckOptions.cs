using System.Globalization;
using SpotCheckpoint.Staging.Cuda;

namespace SpotCheckpoint.GpuCheck;

/// <summary>The GPU check's command line (CPU-only, unit-tested): sizes, repeats, the staging modes to measure.</summary>
internal sealed class GpuCheckOptions
{
    private const long MiB = 1L << 20;

    public static string Usage { get; } =
        "usage: SpotCheckpoint.GpuCheck [--mb N] [--tensors K] [--repeat R] [--device D] [--modes LIST] [--compute-mb C] [--no-pageable] [--json PATH]\n" +
        "  --mb N          total device memory to stage, in MiB (default 1024)\n" +
        "  --tensors K     split it into K device buffers (default 8)\n" +
        "  --repeat R      timed repeats of each path after one warm-up; medians reported (default 5)\n" +
        "  --device D      CUDA device index (default 0)\n" +
        "  --modes LIST    staging modes to measure, comma-separated: fence-default-stream, fence-optimizer-step,\n" +
        "                  device-clone, or all (default all)\n" +
        "  --compute-mb C  work queued on the default stream after each snapshot, as C MiB of device-to-device copies\n" +
        "                  (a stand-in for forward and backward; default 4096, 0 for none)\n" +
        "  --no-pageable   skip the pageable cudaMemcpy reference\n" +
        "  --json PATH     also write the results as JSON\n" +
        "exit codes: 0 verified, 1 mismatch, 2 CUDA not available, 3 a CUDA call failed, 64 bad arguments";

    public long MegaBytes { get; private set; } = 1024;
    public int Tensors { get; private set; } = 8;
    public int Repeat { get; private set; } = 5;
    public int Device { get; private set; }
    public long ComputeMegaBytes { get; private set; } = 4096;
    public IReadOnlyList<CudaStagingMode> Modes { get; private set; } = Enum.GetValues<CudaStagingMode>();
    public bool NoPageable { get; private set; }
    public string? JsonPath { get; private set; }
    public bool Help { get; private set; }

    /// <summary>The name of a mode on the command line and in reports: fence-default-stream, fence-optimizer-step, device-clone.</summary>
    public static string NameOf(CudaStagingMode mode) => mode switch
    {
        CudaStagingMode.FenceDefaultStream => "fence-default-stream",
        CudaStagingMode.FenceOptimizerStep => "fence-optimizer-step",
        CudaStagingMode.DeviceClone => "device-clone",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, null),
    };

    /// <summary>Parses <paramref name="args"/>; throws <see cref="ArgumentException"/> with one clear line for bad input.</summary>
    public static GpuCheckOptions Parse(IReadOnlyList<string> args)
    {
        var o = new GpuCheckOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string Next() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            long Number(long min, long max)
            {
                var name = args[i];
                var text = Next();
                if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
                    throw new ArgumentException($"{name} must be an integer from {min} to {max}, not '{text}'.");
                return v;
            }
            switch (args[i])
            {
                case "--mb": o.MegaBytes = Number(1, 1L << 20); break;
                case "--tensors": o.Tensors = (int)Number(1, 4096); break;
                case "--repeat": o.Repeat = (int)Number(1, 1000); break;
                case "--device": o.Device = (int)Number(0, 1024); break;
                case "--compute-mb": o.ComputeMegaBytes = Number(0, 1L << 20); break;
                case "--modes": o.Modes = ParseModes(Next()); break;
                case "--no-pageable": o.NoPageable = true; break;
                case "--json": o.JsonPath = Next(); break;
                case "-h" or "--help": o.Help = true; break;
                default: throw new ArgumentException($"Unknown argument '{args[i]}'.");
            }
        }
        if (o.MegaBytes * MiB / o.Tensors == 0) throw new ArgumentException("--tensors is larger than the number of bytes.");
        return o;
    }

    private static IReadOnlyList<CudaStagingMode> ParseModes(string text)
    {
        if (text.Trim() == "all") return Enum.GetValues<CudaStagingMode>();
        var modes = new List<CudaStagingMode>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var mode = Enum.GetValues<CudaStagingMode>().Cast<CudaStagingMode?>().FirstOrDefault(m => NameOf(m!.Value) == part)
                ?? throw new ArgumentException($"--modes: unknown mode '{part}' (fence-default-stream, fence-optimizer-step, device-clone or all).");
            if (!modes.Contains(mode)) modes.Add(mode);
        }
        if (modes.Count == 0) throw new ArgumentException("--modes needs at least one mode.");
        return modes;
    }
}
