using System.Text.Json.Serialization;

namespace SpotTrainer;

/// <summary>The --summary-json contract.</summary>
/// <param name="FinalStep">The last step trained.</param>
/// <param name="FinalStateSha256">SHA-256 over the whole training state at that step.</param>
/// <param name="ResumedFromStep">The step this run resumed from; null for a fresh run.</param>
/// <param name="CheckpointsCommitted">Checkpoints this run committed.</param>
/// <param name="Preempted">True when a termination notice stopped the run (exit code 75).</param>
/// <param name="NoticeProvider">Who gave that notice (aws, gcp, azure, signal); null when not preempted.</param>
/// <param name="NoticeToCommitMs">From the notice being seen to the emergency checkpoint's commit; null when not preempted.</param>
/// <param name="BytesWritten">Bytes this process's committed checkpoints uploaded (data and manifests).</param>
/// <param name="BytesReused">Tensor bytes those checkpoints referenced where an earlier checkpoint stored them (--incremental).</param>
internal sealed record Summary(
    long FinalStep,
    string FinalStateSha256,
    long? ResumedFromStep,
    long CheckpointsCommitted,
    bool Preempted = false,
    string? NoticeProvider = null,
    double? NoticeToCommitMs = null,
    long BytesWritten = 0,
    long BytesReused = 0);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(Summary))]
internal sealed partial class SummaryJsonContext : JsonSerializerContext;
