using System.Text.Json.Serialization;

namespace SpotTrainer;

/// <summary>The --summary-json contract.</summary>
internal sealed record Summary(long FinalStep, string FinalStateSha256, long? ResumedFromStep, long CheckpointsCommitted);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(Summary))]
internal sealed partial class SummaryJsonContext : JsonSerializerContext;
