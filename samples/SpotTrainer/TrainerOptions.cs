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
    /// <summary>
    /// Defaults to <see cref="InteractiveStepDelayMs"/> on a terminal, so the README's demo runs slowly enough to be
    /// stopped with Ctrl-C, and to 0 when output is redirected (scripts, tests) so that those run at full speed.
    /// </summary>
    public int StepDelayMs { get; private set; } = Console.IsOutputRedirected ? 0 : InteractiveStepDelayMs;

    /// <summary>The default step delay on a terminal: 200 steps take about 10 s.</summary>
    public const int InteractiveStepDelayMs = 50;
    public double ModelMb { get; private set; } = 4;
    public string? SummaryJson { get; private set; }
    public string Optimizer { get; private set; } = "adamw";
    public string Scheduler { get; private set; } = "onecycle";
    public int BatchSize { get; private set; } = 32;
    public bool Quiet { get; private set; }
    public bool Help { get; private set; }
    public string Notice { get; private set; } = "signal";
    public bool Incremental { get; private set; }
    public int? FullCheckpointEvery { get; private set; }
    public IReadOnlyList<string> Freeze { get; private set; } = [];

    /// <summary>The model's modules that hold parameters (what --freeze takes).</summary>
    public static readonly string[] FreezableModules = ["fc1", "norm", "fc2", "head"];

    /// <summary>Largest --step-delay-ms: one hour a step is already more than any demo needs.</summary>
    public const long MaxStepDelayMs = 3_600_000;

    /// <summary>Largest --batch-size: the synthetic data set has 4096 samples.</summary>
    public const long MaxBatchSize = 4096;

    /// <summary>Largest --hazard-per-hour: one interruption a second.</summary>
    public const double MaxHazardPerHour = 3600;

    /// <summary>The GPU families --gpu-family takes (Unknown is the absence of one, not a choice).</summary>
    public static string[] GpuFamilies => Enum.GetNames<SpotCheckpoint.Scheduling.GpuFamily>().Where(n => n != nameof(SpotCheckpoint.Scheduling.GpuFamily.Unknown)).ToArray();

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
          --step-delay-ms D       sleep D ms per step to mimic a slower GPU step (default 50 on a terminal, so that
                                  the demo can be stopped with Ctrl-C; 0 when output is redirected)
          --model-mb M            approximate model size in MB (default 4)
          --optimizer NAME        sgd | adam | adamw | adamax | nadam | radam | rmsprop | adagrad | adadelta | asgd |
                                  rprop | lbfgs (default adamw)
          --scheduler NAME        step | multistep | exponential | cosine | onecycle | lambda | linear | sequential |
                                  chained (default onecycle)
          --batch-size B          samples per step (default 32)
          --freeze NAMES          comma-separated modules to freeze (fc1, norm, fc2, head): their parameters get
                                  requires_grad = false and stay out of the optimizer; turns on --incremental
          --incremental           incremental checkpoints: each one writes only the chunks that changed
          --full-every K          with --incremental: every K-th checkpoint rewrites every chunk
          --notice SOURCE         termination notices to act on (default signal):
                                    signal  SIGTERM/SIGINT, 30 s grace period
                                    aws | gcp | azure  signals plus that cloud's metadata service
                                    auto    signals plus the cloud that answers a short probe
                                    none    nothing (a signal ends the process at once)
          --summary-json PATH     write a JSON summary (finalStep, finalStateSha256, resumedFromStep,
                                  checkpointsCommitted, preempted, noticeProvider, noticeToCommitMs,
                                  bytesWritten, bytesReused)
          --quiet                 log warnings and errors only
          -h, --help              print this text to standard output and exit 0
        Exit codes: 0 done, 1 error, 2 usage (a bad option or value: one line on standard error), 75 preempted after committing an emergency checkpoint
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
            // Every number is range-checked here, so an overflowing, negative or non-numeric value is a usage error
            // (one line, exit 2), never an OverflowException later.
            long Long(long min, long max = long.MaxValue)
            {
                var text = Value();
                if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
                    throw new UsageException($"{arg} needs a whole number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}, not '{text}'");
                return v;
            }
            switch (arg)
            {
                case "--steps": o.Steps = Long(1); break;
                case "--stop-at": o.StopAt = Long(1); break;
                case "--checkpoint-uri": o.CheckpointUri = Value(); break;
                case "--run-id":
                    o.RunId = Value();
                    try { SpotCheckpoint.Storage.StoreKeys.ValidateRunId(o.RunId); }
                    catch (ArgumentException) { throw new UsageException($"--run-id '{o.RunId}' is not a run id: use 1-128 letters, digits, '.', '_' or '-', not starting with '.'"); }
                    break;
                case "--seed": o.Seed = Long(0); break;
                case "--checkpoint-every":
                    var every = Value();
                    if (every == "auto")
                    {
                        o.CheckpointAuto = true;
                        break;
                    }
                    if (!long.TryParse(every, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 1)
                        throw new UsageException($"--checkpoint-every needs a whole number from 1 to {long.MaxValue.ToString(CultureInfo.InvariantCulture)} or 'auto', not '{every}'");
                    o.CheckpointEvery = n;
                    break;
                case "--step-delay-ms": o.StepDelayMs = (int)Long(0, MaxStepDelayMs); break;
                case "--gpu-family":
                    var family = Value();
                    if (!Enum.TryParse<SpotCheckpoint.Scheduling.GpuFamily>(family, ignoreCase: true, out var f) || !Enum.IsDefined(f)
                        || f == SpotCheckpoint.Scheduling.GpuFamily.Unknown || int.TryParse(family, out _))
                        throw new UsageException($"--gpu-family must be one of {string.Join(", ", GpuFamilies)}, not '{family}'");
                    o.GpuFamily = f;
                    break;
                case "--hazard-per-hour":
                    var rate = Value();
                    if (!double.TryParse(rate, NumberStyles.Float, CultureInfo.InvariantCulture, out var h) || !(h > 0) || double.IsInfinity(h) || h > MaxHazardPerHour)
                        throw new UsageException($"--hazard-per-hour needs a rate per hour above 0 and at most {MaxHazardPerHour.ToString(CultureInfo.InvariantCulture)}, not '{rate}'");
                    o.HazardPerHour = h;
                    break;
                case "--model-mb":
                    var mb = Value();
                    if (!double.TryParse(mb, NumberStyles.Float, CultureInfo.InvariantCulture, out var m) || m <= 0 || m > 65536)
                        throw new UsageException($"--model-mb needs a number of MB above 0 and at most 65536, not '{mb}'");
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
                case "--batch-size": o.BatchSize = (int)Long(1, MaxBatchSize); break;
                case "--summary-json": o.SummaryJson = Value(); break;
                case "--incremental": o.Incremental = true; break;
                case "--full-every": o.FullCheckpointEvery = (int)Long(1, int.MaxValue); break;
                case "--freeze":
                    var names = Value().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                    if (names.Length == 0) throw new UsageException("--freeze needs module names, e.g. fc2 or fc1,fc2");
                    foreach (var name in names)
                    {
                        if (!FreezableModules.Contains(name))
                            throw new UsageException($"--freeze: the model has no module '{name}' with parameters (it has {string.Join(", ", FreezableModules)})");
                    }
                    o.Freeze = names.Distinct().ToArray();
                    if (o.Freeze.Count == FreezableModules.Length) throw new UsageException("--freeze: every module would be frozen, leaving nothing to train");
                    break;
                case "--quiet": o.Quiet = true; break;
                case "--notice":
                    o.Notice = Value().ToLowerInvariant();
                    if (!Notices.Contains(o.Notice)) throw new UsageException($"--notice must be one of {string.Join(", ", Notices)}");
                    break;
                case "-h" or "--help": o.Help = true; return o;
                default: throw new UsageException($"unknown option '{arg}'");
            }
        }
        if (o.StopAt > o.Steps) throw new UsageException($"--stop-at {o.StopAt} is beyond --steps {o.Steps}");
        // A frozen base is what incremental checkpoints are for: it is stored once, not at every checkpoint.
        if (o.Freeze.Count > 0) o.Incremental = true;
        return o;
    }
}

/// <summary>A command-line mistake: one line on standard error, exit 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
