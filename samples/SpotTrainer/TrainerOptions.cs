using System.Globalization;

namespace SpotTrainer;

/// <summary>The trainer's command line. See README.md for the contract.</summary>
internal sealed class TrainerOptions
{
    public long Steps { get; private set; } = 200;
    public long? StopAt { get; private set; }
    public string CheckpointUri { get; private set; } = "./checkpoints";
    public string RunId { get; private set; } = "demo";
    public long Seed { get; private set; } = 42;
    public long CheckpointEvery { get; private set; } = 50;
    public int StepDelayMs { get; private set; }
    public double ModelMb { get; private set; } = 4;
    public string? SummaryJson { get; private set; }
    public string Optimizer { get; private set; } = "adamw";
    public string Scheduler { get; private set; } = "onecycle";
    public int BatchSize { get; private set; } = 32;
    public bool Quiet { get; private set; }

    public static readonly string[] Optimizers = ["sgd", "adam", "adamw"];
    public static readonly string[] Schedulers = ["step", "multistep", "exponential", "cosine", "onecycle", "lambda", "linear"];

    public const string Usage = """
        Usage: SpotTrainer [options]
          --steps N               total schedule length in steps (default 200)
          --stop-at K             stop cleanly after committing a checkpoint at step K (exit 0)
          --checkpoint-uri URI    where checkpoints go: a path or file:// URI (default ./checkpoints), s3://bucket/prefix,
                                  gs://bucket/prefix, az://container/prefix or https://<account>.blob.core.windows.net/container/prefix
          --run-id ID             run id; running again with the same id resumes (default demo)
          --seed S                seed for data, initial weights and dropout (default 42)
          --checkpoint-every N    checkpoint every N steps (default 50)
          --step-delay-ms D       sleep D ms per step to mimic a slower GPU step (default 0)
          --model-mb M            approximate model size in MB (default 4)
          --optimizer NAME        sgd | adam | adamw (default adamw)
          --scheduler NAME        step | multistep | exponential | cosine | onecycle | lambda | linear (default onecycle)
          --batch-size B          samples per step (default 32)
          --summary-json PATH     write a JSON summary (finalStep, finalStateSha256, resumedFromStep, checkpointsCommitted)
          --quiet                 log warnings and errors only
        Exit codes: 0 done, 1 error, 2 usage.
        """;

    /// <summary>Parses the arguments; throws <see cref="UsageException"/> with a one-line reason.</summary>
    public static TrainerOptions Parse(IReadOnlyList<string> args)
    {
        var o = new TrainerOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string Value()
            {
                if (i + 1 >= args.Count) throw new UsageException($"{arg} needs a value");
                return args[++i];
            }
            long Long(long min)
            {
                var text = Value();
                if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < min)
                    throw new UsageException($"{arg} needs a whole number >= {min}, not '{text}'");
                return v;
            }
            switch (arg)
            {
                case "--steps": o.Steps = Long(1); break;
                case "--stop-at": o.StopAt = Long(1); break;
                case "--checkpoint-uri": o.CheckpointUri = Value(); break;
                case "--run-id": o.RunId = Value(); break;
                case "--seed": o.Seed = Long(0); break;
                case "--checkpoint-every":
                    var every = Value();
                    if (every == "auto")
                        throw new UsageException("--checkpoint-every auto is not available in this version; give a number of steps");
                    if (!long.TryParse(every, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 1)
                        throw new UsageException($"--checkpoint-every needs a whole number >= 1, not '{every}'");
                    o.CheckpointEvery = n;
                    break;
                case "--step-delay-ms": o.StepDelayMs = checked((int)Long(0)); break;
                case "--model-mb":
                    var mb = Value();
                    if (!double.TryParse(mb, NumberStyles.Float, CultureInfo.InvariantCulture, out var m) || m <= 0 || m > 65536)
                        throw new UsageException($"--model-mb needs a positive number of MB, not '{mb}'");
                    o.ModelMb = m;
                    break;
                case "--optimizer":
                    o.Optimizer = Value().ToLowerInvariant();
                    if (!Optimizers.Contains(o.Optimizer)) throw new UsageException($"--optimizer must be one of {string.Join(", ", Optimizers)}");
                    break;
                case "--scheduler":
                    o.Scheduler = Value().ToLowerInvariant();
                    if (!Schedulers.Contains(o.Scheduler)) throw new UsageException($"--scheduler must be one of {string.Join(", ", Schedulers)}");
                    break;
                case "--batch-size": o.BatchSize = checked((int)Long(1)); break;
                case "--summary-json": o.SummaryJson = Value(); break;
                case "--quiet": o.Quiet = true; break;
                case "-h" or "--help": throw new UsageException(null);
                default: throw new UsageException($"unknown option '{arg}'");
            }
        }
        if (o.StopAt > o.Steps) throw new UsageException($"--stop-at {o.StopAt} is beyond --steps {o.Steps}");
        return o;
    }
}

/// <summary>A command-line mistake: print usage, exit 2.</summary>
internal sealed class UsageException(string? message) : Exception(message ?? "");
