namespace SpotCheckpoint;

/// <summary>The base type of every error SpotCheckpoint raises on purpose.</summary>
public class CheckpointException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CheckpointException(string message) : base(message) { }

    /// <summary>Creates the exception with an inner cause.</summary>
    public CheckpointException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>
/// A stored checkpoint is damaged: a checksum does not match, an object is missing or truncated, or the manifest
/// is malformed. Resume skips such a checkpoint and falls back to the previous one.
/// </summary>
public sealed class CheckpointCorruptException : CheckpointException
{
    /// <summary>Creates the exception.</summary>
    public CheckpointCorruptException(string objectName, string problem, Exception? innerException = null)
        : base($"Checkpoint object '{objectName}' is corrupt: {problem}", innerException)
    {
        ObjectName = objectName;
        Problem = problem;
    }

    /// <summary>The store key of the damaged object (a shard, a chunk pack or the manifest).</summary>
    public string ObjectName { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }

    /// <summary>
    /// For a damaged chunk of an incremental (version-2) checkpoint: its identity, the XXH3-128 in 32 hex digits
    /// (the same chunk may be shared by other checkpoints of the run); null otherwise.
    /// </summary>
    public string? Chunk { get; init; }
}

/// <summary>
/// A checkpoint is intact but does not fit the registered training state: a tensor is missing or extra, or its
/// shape or dtype differs. Raised before any registered tensor is changed.
/// </summary>
public sealed class CheckpointMismatchException : CheckpointException
{
    /// <summary>Creates the exception.</summary>
    public CheckpointMismatchException(string tensorName, string problem)
        : base($"Checkpoint does not match the registered state at '{tensorName}': {problem}")
    {
        TensorName = tensorName;
        Problem = problem;
    }

    /// <summary>The qualified name of the offending tensor or state entry (for example <c>model/fc1.weight</c>).</summary>
    public string TensorName { get; }

    /// <summary>What differs.</summary>
    public string Problem { get; }
}

/// <summary>Checkpoints exist for the run, but none of them could be verified and restored.</summary>
public sealed class NoUsableCheckpointException : CheckpointException
{
    /// <summary>Creates the exception.</summary>
    public NoUsableCheckpointException(string runId, IReadOnlyList<CheckpointException> failures)
        : base($"Run '{runId}' has {failures.Count} checkpoint(s) but none is usable: " +
               string.Join("; ", failures.Select(f => f.Message)) +
               ". Registered tensors may have been partly overwritten; re-create them before training from scratch.")
    {
        RunId = runId;
        Failures = failures;
    }

    /// <summary>The run whose checkpoints were tried.</summary>
    public string RunId { get; }

    /// <summary>Why each checkpoint was rejected, newest first.</summary>
    public IReadOnlyList<CheckpointException> Failures { get; }
}

/// <summary>Another writer already committed a checkpoint at this step of this run.</summary>
public sealed class CheckpointConflictException : CheckpointException
{
    /// <summary>Creates the exception.</summary>
    public CheckpointConflictException(string objectName)
        : base($"Checkpoint object '{objectName}' already exists; another writer committed this step first.")
    {
        ObjectName = objectName;
    }

    /// <summary>The store key that already existed.</summary>
    public string ObjectName { get; }
}

/// <summary>A registered object (optimizer, scheduler, dtype) is of a kind SpotCheckpoint cannot capture exactly.</summary>
public sealed class UnsupportedStateException : CheckpointException
{
    /// <summary>Creates the exception.</summary>
    public UnsupportedStateException(string message) : base(message) { }
}

/// <summary>The checkpoint store failed (I/O error, refused request); the checkpoint concerned stays invisible.</summary>
public sealed class CheckpointStoreException : CheckpointException
{
    /// <summary>Creates the exception.</summary>
    public CheckpointStoreException(string message, Exception? innerException = null) : base(message, innerException) { }
}

/// <summary>
/// The checkpoint location cannot be used: the probe at start (create and delete a small object under the run's
/// prefix) failed. The message names the location, the cause and what to fix, on one line.
/// </summary>
public sealed class CheckpointLocationException : CheckpointException
{
    /// <summary>Creates the exception.</summary>
    public CheckpointLocationException(string location, string cause, string fix, Exception? innerException = null)
        : base($"Checkpoint location {location} cannot be used: {cause}. To fix: {fix}.", innerException)
    {
        Location = location;
        Cause = cause;
    }

    /// <summary>The location, as the store describes it (never with credentials).</summary>
    public string Location { get; }

    /// <summary>What went wrong.</summary>
    public string Cause { get; }
}

/// <summary>
/// A restore failed part-way for a reason other than the store (a bug, out of memory, a device error). Registered
/// tensors may be partly overwritten, so the checkpointer does not fall back to an older checkpoint: re-create the
/// state (or the process) before trying again.
/// </summary>
public sealed class CheckpointRestoreException : CheckpointException
{
    /// <summary>Creates the exception.</summary>
    public CheckpointRestoreException(string runId, long step, Exception innerException)
        : base($"Restoring run '{runId}' from step {step} failed part-way: {innerException.Message} " +
               "Registered state may be partly overwritten; no fallback was tried.", innerException)
    {
        RunId = runId;
        Step = step;
    }

    /// <summary>The run.</summary>
    public string RunId { get; }

    /// <summary>The step whose restore failed.</summary>
    public long Step { get; }
}

/// <summary>The run has no committed checkpoint at the step asked for (<see cref="Checkpointer.ResumeFromAsync"/>).</summary>
public sealed class CheckpointNotFoundException : CheckpointException
{
    /// <summary>Creates the exception.</summary>
    public CheckpointNotFoundException(string runId, long step)
        : base($"Run '{runId}' has no committed checkpoint at step {step}.")
    {
        RunId = runId;
        Step = step;
    }

    /// <summary>The run.</summary>
    public string RunId { get; }

    /// <summary>The step asked for.</summary>
    public long Step { get; }
}

/// <summary>
/// <see cref="CheckpointerOptions.MaxConsecutiveFailures"/> checkpoints in a row failed: the run can no longer
/// checkpoint, so <see cref="Checkpointer.Step"/> stops it instead of training on unprotected.
/// </summary>
public sealed class TooManyCheckpointFailuresException : CheckpointException
{
    /// <summary>Creates the exception.</summary>
    public TooManyCheckpointFailuresException(string runId, int failures, Exception? lastError)
        : base($"The last {failures} checkpoints of run '{runId}' failed; stopping instead of training unprotected. Last error: {lastError?.Message ?? "unknown"}", lastError)
    {
        RunId = runId;
        Failures = failures;
    }

    /// <summary>The run.</summary>
    public string RunId { get; }

    /// <summary>Failed checkpoints in a row.</summary>
    public int Failures { get; }
}
