namespace SpotCheckpoint;

/// <summary>Passed to <see cref="CheckpointerOptions.OnCommitted"/>.</summary>
/// <param name="Checkpoint">The committed checkpoint.</param>
public readonly record struct CheckpointCommittedArguments(CheckpointResult Checkpoint);

/// <summary>Passed to <see cref="CheckpointerOptions.OnPersistFailed"/>.</summary>
/// <param name="RunId">The run.</param>
/// <param name="Step">The step whose checkpoint failed; it stays invisible.</param>
/// <param name="Error">Why it failed.</param>
/// <param name="ConsecutiveFailures">Failed checkpoints in a row, this one included.</param>
public readonly record struct CheckpointPersistFailedArguments(string RunId, long Step, Exception Error, int ConsecutiveFailures);

/// <summary>Passed to <see cref="CheckpointerOptions.OnSkipped"/>.</summary>
/// <param name="RunId">The run.</param>
/// <param name="Step">The step whose due checkpoint was skipped.</param>
/// <param name="Reason">Why, in words (for example the busy wait that ran out).</param>
public readonly record struct CheckpointSkippedArguments(string RunId, long Step, string Reason);
