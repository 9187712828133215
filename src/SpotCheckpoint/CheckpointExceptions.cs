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

    /// <summary>The store key of the damaged object (a shard or the manifest).</summary>
    public string ObjectName { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
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
