using System.Globalization;

namespace TinyTransformer;

/// <summary>Bad command-line input: one line for the user, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>The command line: the console trainer's contract (steps, stop, checkpoint location, run id, seed, notices, summary).</summary>
internal sealed class TinyOptions
{
    public long Steps { get; private set; } = 300;
    public long? StopAt { get; private set; }
    public string CheckpointUri { get; private set; } = "./checkpoints";
    public string RunId { get; private set; } = "tiny";
    public int Seed { get; private set; } = 1;
    public long CheckpointEvery { get; private set; } = 50;
    public int BatchSize { get; private set; } = 32;
    public string? SummaryJson { get; private set; }
    public string Notice { get; private set; } = "signal";
    public bool Quiet { get; private set; }

    public static readonly string[] Notices = ["auto", "aws", "gcp", "azure", "signal", "none"];

    public const string Usage = """
        Usage: TinyTransformer [options]
          --steps N               training steps (default 300)
          --stop-at N             stop after step N with a checkpoint; run again to resume
          --checkpoint-uri URI    where checkpoints go: a path, file://, s3://, gs://, az:// (default ./checkpoints)
          --run-id ID             the run's name in the store (default tiny)
          --seed S                seeds the weights, dropout and the task (default 1)
          --checkpoint-every N    checkpoint every N steps (default 50)
          --batch-size B          sequences per step (default 32)
          --notice SOURCE         termination notices to act on: auto | aws | gcp | azure | signal | none (default signal)
          --summary-json FILE     write the final step, state hash and losses as JSON
          --quiet                 log warnings and errors only
        Exit codes: 0 done, 1 error, 2 usage, 75 preempted after committing an emergency checkpoint.
        """;

    public static TinyOptions Parse(string[] args)
    {
        var o = new TinyOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value");
            long Number(long min)
            {
                var name = args[i];
                var text = Value();
                if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < min)
                    throw new UsageException($"{name} must be a whole number of at least {min}, not '{text}'");
                return v;
            }
            switch (args[i])
            {
                case "--steps": o.Steps = Number(1); break;
                case "--stop-at": o.StopAt = Number(1); break;
                case "--checkpoint-uri": o.CheckpointUri = Value(); break;
                case "--run-id": o.RunId = Value(); break;
                case "--seed": o.Seed = checked((int)Number(0)); break;
                case "--checkpoint-every": o.CheckpointEvery = Number(1); break;
                case "--batch-size": o.BatchSize = checked((int)Number(1)); break;
                case "--summary-json": o.SummaryJson = Value(); break;
                case "--notice":
                    o.Notice = Value().ToLowerInvariant();
                    if (!Notices.Contains(o.Notice)) throw new UsageException($"--notice must be one of {string.Join(", ", Notices)}");
                    break;
                case "--quiet": o.Quiet = true; break;
                case "--help" or "-h": throw new UsageException("");
                default: throw new UsageException($"unknown option '{args[i]}'");
            }
        }
        return o;
    }
}
