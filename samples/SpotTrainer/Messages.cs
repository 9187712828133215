using SpotCheckpoint.Storage;
using SpotCheckpoint;

namespace SpotTrainer;

/// <summary>What the trainer prints about errors: one line, no stack trace, no secrets.</summary>
internal static class Messages
{
    /// <summary>The first line of <paramref name="ex"/>'s message without .NET's " (Parameter 'x')" suffix, redacted.</summary>
    public static string OneLine(Exception ex) => SpotCheckpoint.Samples.SampleConsole.OneLine(ex);

    /// <summary>
    /// Creates the checkpointer; a location it cannot take (an unknown scheme, a URI without a bucket) is a usage
    /// error of --checkpoint-uri (exit code 2), like every other bad option value.
    /// </summary>
    public static Checkpointer OpenCheckpointer(TrainerOptions options, Func<Checkpointer> create)
    {
        try
        {
            return create();
        }
        catch (ArgumentException ex) when (ex is not ArgumentOutOfRangeException)
        {
            throw new UsageException($"--checkpoint-uri '{LocationRedaction.Redact(options.CheckpointUri)}': {OneLine(ex)}");
        }
    }
}
