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
    public bool CheckpointAuto { get; private set; }
    public SpotCheckpoint.Scheduling.GpuFamily GpuFamily { get; private set; }
    public double? HazardPerHour { get; private set; }
    public int StepDelayMs { get; private set; }
    public double ModelMb { get; private set; } = 4;
    public string? SummaryJson { get; private set; }
    public string Optimizer { get; private set; } = "adamw";
    public string Scheduler { get; private set; } = "onecycle";
    public int BatchSize { get; private set; } = 32;
    public bool Quiet { get; private set; }
    public string Notice { get; private set; } = "signal";

    public static readonly string[] Optimizers = ["sgd", "adam", "adamw", "adamax", "nadam", "radam", "rmsprop", "adagrad", "adadelta", "asgd", "rprop", "lbfgs"];
    public static readonly string[] Notices = ["auto", "aws", "gcp", "azure", "signal", "none"];
    public static readonly string[] Schedulers = ["step", "multistep", "exponential", "cosine", "onecycle", "lambda", "linear", "sequential", "chained"];

    public const string Usage = """
        Usage: SpotTrainer [options]
          --steps N               total schedule length in steps (default 200)
          --stop-at K             stop cleanly after committing a checkpoint at step K (exit 0)
          --checkpoint-uri URI    where checkpoints go: a path or file:// URI (default ./checkpoints), s3://bucket/prefix,
                                  gs://bucket/prefix, az://container/prefix or https://<account>.blob.core.windows.net/container/prefix
          --run-id ID             run id; running again with the same id resumes (default demo)
          --seed S                seed for data, initial weights and dropout (default 42)
          --checkpoint-every N    checkpoint every N steps (default 50), or 'auto' for the adaptive (Young/Daly) schedule
          --gpu-family NAME       with auto: the GPU whose interruption prior to use (H100, A100, V100, ...)
          --hazard-per-hour X     with auto: the interruption rate to assume, per hour (e.g. 0.041)
          --step-delay-ms D       sleep D ms per step to mimic a slower GPU step (default 0)
          --model-mb M            approximate model size in MB (default 4)
          --optimizer NAME        sgd | adam | adamw | adamax | nadam | radam | rmsprop | adagrad | adadelta | asgd |
                                  rprop | lbfgs (default adamw)
          --scheduler NAME        step | multistep | exponential | cosine | onecycle | lambda | linear | sequential |
                                  chained (default onecycle)
          --batch-size B          samples per step (default 32)
          --notice SOURCE         termination notices to act on (default signal):
                                    signal  SIGTERM/SIGINT, 30 s grace period
                                    aws | gcp | azure  signals plus that cloud's metadata service
                                    auto    signals plus the cloud that answers a short probe
                                    none    nothing (a signal ends the process at once)
          --summary-json PATH     write a JSON summary (finalStep, finalStateSha256, resumedFromStep,
                                  checkpointsCommitted, preempted, noticeProvider, noticeToCommitMs)
          --quiet                 log warnings and errors only
        Exit codes: 0 done, 1 error, 2 usage, 75 preempted after committing an emergency checkpoint
        (run the same command again to resume).
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
                    {
                        o.CheckpointAuto = true;
                        break;
                    }
                    if (!long.TryParse(every, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 1)
                        throw new UsageException($"--checkpoint-every needs a whole number >= 1, not '{every}'");
                    o.CheckpointEvery = n;
                    break;
                case "--step-delay-ms": o.StepDelayMs = checked((int)Long(0)); break;
                case "--gpu-family":
                    var family = Value();
                    if (!Enum.TryParse<SpotCheckpoint.Scheduling.GpuFamily>(family, ignoreCase: true, out var f) || !Enum.IsDefined(f))
                        throw new UsageException($"--gpu-family must be one of {string.Join(", ", Enum.GetNames<SpotCheckpoint.Scheduling.GpuFamily>())}");
                    o.GpuFamily = f;
                    break;
                case "--hazard-per-hour":
                    var rate = Value();
                    if (!double.TryParse(rate, NumberStyles.Float, CultureInfo.InvariantCulture, out var h) || !(h > 0) || double.IsInfinity(h))
                        throw new UsageException($"--hazard-per-hour needs a positive rate, not '{rate}'");
                    o.HazardPerHour = h;
                    break;
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
                case "--notice":
                    o.Notice = Value().ToLowerInvariant();
                    if (!Notices.Contains(o.Notice)) throw new UsageException($"--notice must be one of {string.Join(", ", Notices)}");
                    break;
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
