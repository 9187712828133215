using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SpotCheckpoint.GpuCheck;

/// <summary>
/// One staging mode measured against plain pinned cudaMemcpy with the same work queued on the default stream:
/// how long the host was blocked, how long kernels queued after the snapshot waited on the GPU (the device stall),
/// and the wall time until the snapshot and the queued work were both done.
/// </summary>
internal sealed record ModeMeasurement(string Mode, double HostBlockedMs, double DeviceStallMs, double SnapshotAndComputeMs, bool Verified);

/// <summary>The per-mode part of the GPU check's report, as a table and as JSON (CPU-only, unit-tested).</summary>
internal static class GpuCheckReport
{
    /// <summary>The baseline's name in the table: a synchronous pinned cudaMemcpy (host and device both wait).</summary>
    public const string BaselineName = "pinned cudaMemcpy (baseline)";

    /// <summary>
    /// The table: one row per mode plus the baseline, with host-blocked and device-blocked times and the wall time
    /// of snapshot + queued compute, and each one's ratio to the baseline.
    /// </summary>
    public static string Table(IReadOnlyList<ModeMeasurement> modes, ModeMeasurement baseline, long bytes, double computeMs)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(string.Create(c, $"staging modes, {bytes / 1e9:0.###} GB staged, {computeMs:0.##} ms of work queued on the default stream after each snapshot:"));
        sb.AppendLine(string.Create(c, $"{"mode",-30} {"host blocked",13} {"device stall",13} {"snapshot+work",14} {"vs baseline",12} {"bytes",9}"));
        foreach (var m in modes.Append(baseline))
        {
            string ratio = baseline.SnapshotAndComputeMs > 0 ? (m.SnapshotAndComputeMs / baseline.SnapshotAndComputeMs).ToString("0.000", c) : "n/a";
            sb.AppendLine(string.Create(c,
                $"{m.Mode,-30} {Ms(m.HostBlockedMs),13} {Ms(m.DeviceStallMs),13} {Ms(m.SnapshotAndComputeMs),14} {ratio,12} {(m.Verified ? "verified" : "MISMATCH"),9}"));
        }
        return sb.ToString();
    }

    /// <summary>Writes the modes and the baseline as a JSON array property <c>modes</c> of the current object.</summary>
    public static void WriteJson(Utf8JsonWriter w, IReadOnlyList<ModeMeasurement> modes, ModeMeasurement baseline)
    {
        w.WriteStartArray("modes");
        foreach (var m in modes.Append(baseline))
        {
            w.WriteStartObject();
            w.WriteString("mode", m.Mode);
            w.WriteNumber("hostBlockedMs", Math.Round(m.HostBlockedMs, 4));
            w.WriteNumber("deviceStallMs", Math.Round(m.DeviceStallMs, 4));
            w.WriteNumber("snapshotAndComputeMs", Math.Round(m.SnapshotAndComputeMs, 4));
            w.WriteNumber("overBaseline", baseline.SnapshotAndComputeMs > 0 ? Math.Round(m.SnapshotAndComputeMs / baseline.SnapshotAndComputeMs, 4) : 0);
            w.WriteBoolean("verified", m.Verified);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>Milliseconds, or microseconds below one millisecond.</summary>
    public static string Ms(double ms) => ms < 1
        ? (ms * 1e3).ToString("F1", CultureInfo.InvariantCulture) + " us"
        : ms.ToString("F2", CultureInfo.InvariantCulture) + " ms";
}
