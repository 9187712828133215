using System.Text.Json;
using System.Text.Json.Serialization;

namespace SpotCheckpoint.Scheduling;

/// <summary>
/// What a run has observed about its interruptions, kept with the run (<c>&lt;run&gt;/hazard.json</c>) so the next
/// attempt starts from it. Plain JSON (camelCase): <see cref="ToJson"/>, <see cref="FromJson"/>.
/// </summary>
public sealed record HazardState
{
    /// <summary>The state as indented UTF-8 JSON.</summary>
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, HazardStateJsonContext.Default.HazardState);

    /// <summary>Parses a state written by <see cref="ToJson"/>; throws <see cref="JsonException"/> when it is not one.</summary>
    public static HazardState FromJson(ReadOnlySpan<byte> json)
    {
        var state = JsonSerializer.Deserialize(json, HazardStateJsonContext.Default.HazardState)
            ?? throw new JsonException("The hazard state is null.");
        if (state.Version != 1) throw new JsonException($"Hazard state version {state.Version} is not supported.");
        if (state.Interruptions < 0 || !(state.ExposureHours >= 0) || double.IsInfinity(state.ExposureHours))
            throw new JsonException("The hazard state holds a negative or non-finite count.");
        return state;
    }

    /// <summary>The schema version; this library writes 1.</summary>
    public int Version { get; init; } = 1;

    /// <summary>Interruptions observed over the run's attempts.</summary>
    public long Interruptions { get; init; }

    /// <summary>
    /// Hours the run was exposed to interruption, weekend hours weighted by the weekend factor, so that
    /// <see cref="Interruptions"/> / <see cref="ExposureHours"/> estimates the weekday rate.
    /// </summary>
    public double ExposureHours { get; init; }

    /// <summary>When the last interruption was observed.</summary>
    public DateTimeOffset? LastInterruptionUtc { get; init; }

    /// <summary>
    /// True while an attempt is running: set by <see cref="HazardModel.BeginAttemptAsync"/> and cleared by
    /// <see cref="HazardModel.EndAttemptAsync"/>. An attempt found still open was interrupted without notice.
    /// </summary>
    public bool AttemptOpen { get; init; }

    /// <summary>The prior the writer used (per hour), for information.</summary>
    public double PriorPerHour { get; init; }

    /// <summary>The GPU family the writer assumed, for information.</summary>
    public string? GpuFamily { get; init; }

    /// <summary>When this state was written.</summary>
    public DateTimeOffset UpdatedUtc { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(HazardState))]
internal sealed partial class HazardStateJsonContext : JsonSerializerContext;
