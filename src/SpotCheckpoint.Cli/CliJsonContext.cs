using System.Text.Json.Serialization;
using SpotCheckpoint.Scheduling.Simulation;

namespace SpotCheckpoint.Cli;

/// <summary>JSON output of the verbs (camelCase, indented; infinities as strings).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(SimulationReport))]
[JsonSerializable(typeof(LsReport))]
[JsonSerializable(typeof(InspectReport))]
[JsonSerializable(typeof(VerifyReport))]
[JsonSerializable(typeof(PruneReport))]
[JsonSerializable(typeof(CopyReport))]
[JsonSerializable(typeof(Report.RunReport))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
