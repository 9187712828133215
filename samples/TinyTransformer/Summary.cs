using System.Text.Json.Serialization;

namespace TinyTransformer;

/// <summary>The --summary-json contract: the console trainer's fields plus this run's first and final loss.</summary>
/// <param name="FinalStep">The last step trained.</param>
/// <param name="FinalStateSha256">SHA-256 over the whole training state at that step.</param>
/// <param name="ResumedFromStep">The step this run resumed from; null for a fresh run.</param>
/// <param name="CheckpointsCommitted">Checkpoints this run committed.</param>
/// <param name="Preempted">True when a termination notice stopped the run (exit code 75).</param>
/// <param name="NoticeProvider">Who gave that notice; null when not preempted.</param>
/// <param name="NoticeToCommitMs">From the notice to the emergency checkpoint's commit; null when not preempted.</param>
/// <param name="FirstLoss">The loss of the first step this process trained; null when it trained none.</param>
/// <param name="FinalLoss">The loss of the last step this process trained; null when it trained none.</param>
internal sealed record Summary(
    long FinalStep,
    string FinalStateSha256,
    long? ResumedFromStep,
    long CheckpointsCommitted,
    bool Preempted,
    string? NoticeProvider,
    double? NoticeToCommitMs,
    double? FirstLoss,
    double? FinalLoss);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(Summary))]
internal sealed partial class SummaryJsonContext : JsonSerializerContext;
