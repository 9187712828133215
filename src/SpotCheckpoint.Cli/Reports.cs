using SpotCheckpoint.Format;

namespace SpotCheckpoint.Cli;

// The JSON documents the verbs write with --json (camelCase). docs/cli.md describes every field.

/// <summary><c>ls</c>: the committed checkpoints found, newest step first per run, and leftover step folders.</summary>
internal sealed record LsReport(string Location, IReadOnlyList<CheckpointEntry> Checkpoints, IReadOnlyList<IncompleteEntry> Uncommitted);

/// <summary>One committed checkpoint. <c>State</c> is <c>ok</c> (manifest and shard frames check out) or <c>corrupt</c>.</summary>
internal sealed record CheckpointEntry(string RunId, long Step, long? Epoch, DateTimeOffset? CreatedUtc, long Bytes, int Shards, int Tensors, string State, string? Problem)
{
    /// <summary>Bytes a restore needs (its own plus the chunks it references in older packs); equals Bytes for version 1.</summary>
    public long TotalBytes { get; init; } = -1;
}

/// <summary>A step folder without a manifest: a checkpoint being written, or a crashed writer's leftovers.</summary>
internal sealed record IncompleteEntry(string RunId, long Step, int Objects, long Bytes, DateTimeOffset? LastModified);

/// <summary><c>inspect</c>: one checkpoint's manifest and its totals.</summary>
internal sealed record InspectReport(string Location, string RunId, long Step, long Bytes, long TensorBytes, CheckpointManifest Manifest)
{
    /// <summary>Tensor bytes referenced in packs of older checkpoints instead of written by this one (version 2).</summary>
    public long ReusedBytes { get; init; }
}

/// <summary><c>verify</c>: one result per checkpoint verified.</summary>
internal sealed record VerifyReport(string Location, string RunId, IReadOnlyList<VerifyEntry> Results, int Verified, int Corrupt);

/// <summary>One checkpoint's verification: <c>verified</c> or <c>corrupt</c>, naming the broken object.</summary>
internal sealed record VerifyEntry(long Step, string Status, long Bytes, double Seconds, string? Object, string? Problem);

/// <summary><c>prune</c>: what was kept and removed.</summary>
internal sealed record PruneReport(string Location, string RunId, int Keep, bool DryRun, IReadOnlyList<long> Kept, IReadOnlyList<long> RemovedCheckpoints,
    IReadOnlyList<long> RemovedUncommittedSteps, int RemovedObjects, int RemovedIncompleteUploads);

/// <summary><c>copy</c>: one entry per checkpoint.</summary>
internal sealed record CopyReport(string Source, string Destination, string RunId, IReadOnlyList<CopyEntry> Checkpoints, long BytesCopied, bool Verified);

/// <summary>One checkpoint's copy: <c>copied</c>, <c>present</c> (already there, identical) or <c>corrupt</c>.</summary>
internal sealed record CopyEntry(long Step, string Status, long Bytes, string? Object, string? Problem);
