using System.Diagnostics.Metrics;
using System.Globalization;
using SpotCheckpoint.Diagnostics;

namespace SpotTrainer;

/// <summary>
/// Listens to the SpotCheckpoint meter (the way an OpenTelemetry exporter or dotnet-counters would) and sums up what
/// it saw for the end-of-run summary.
/// </summary>
internal sealed class MetricsSummary : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Dictionary<string, (long Count, double Sum, double Max)> _seen = [];

    public MetricsSummary(SpotCheckpointMetrics metrics)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, metrics.Meter)) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<double>((i, v, _, _) => Add(i.Name, v));
        _listener.SetMeasurementEventCallback<long>((i, v, _, _) => Add(i.Name, v));
        _listener.Start();
    }

    public override string ToString()
    {
        lock (_seen)
        {
            var c = CultureInfo.InvariantCulture;
            var stall = Get("spotcheckpoint.checkpoint.stall.duration");
            var persist = Get("spotcheckpoint.checkpoint.persist.duration");
            var throughput = Get("spotcheckpoint.checkpoint.persist.throughput");
            return string.Create(c,
                $"metrics: {Get("spotcheckpoint.checkpoint.committed").Sum:0} committed, {Get("spotcheckpoint.checkpoint.skipped").Sum:0} skipped, " +
                $"{Get("spotcheckpoint.checkpoint.failed").Sum:0} failed; stall mean {Mean(stall) * 1000:0.0} ms (max {stall.Max * 1000:0.0} ms); " +
                $"persist mean {Mean(persist) * 1000:0.0} ms; {Get("spotcheckpoint.checkpoint.bytes").Sum / 1048576:0.0} MiB written at {Mean(throughput) / 1048576:0} MiB/s, " +
                $"{Get("spotcheckpoint.checkpoint.bytes.reused").Sum / 1048576:0.0} MiB reused");
        }
    }

    public void Dispose() => _listener.Dispose();

    private void Add(string name, double value)
    {
        lock (_seen)
        {
            var (count, sum, max) = Get(name);
            _seen[name] = (count + 1, sum + value, Math.Max(max, value));
        }
    }

    private (long Count, double Sum, double Max) Get(string name) => _seen.TryGetValue(name, out var v) ? v : default;

    private static double Mean((long Count, double Sum, double Max) v) => v.Count > 0 ? v.Sum / v.Count : 0;
}
