using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace SpotCheckpoint.Tests.Diagnostics;

/// <summary>Collects every measurement of one meter instance with a <see cref="MeterListener"/>.</summary>
internal sealed class MetricsCollector : IDisposable
{
    private readonly MeterListener _listener = new();

    public MetricsCollector(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter)) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        _listener.Start();
    }

    public ConcurrentQueue<Recorded> Measurements { get; } = new();

    public IReadOnlyList<Recorded> Of(string instrument)
    {
        _listener.RecordObservableInstruments();
        return Measurements.Where(m => m.Instrument == instrument).ToList();
    }

    public double Sum(string instrument) => Of(instrument).Sum(m => m.Value);

    public void Dispose() => _listener.Dispose();

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
        Measurements.Enqueue(new Recorded(instrument.Name, instrument.Unit, value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));

    internal sealed record Recorded(string Instrument, string? Unit, double Value, Dictionary<string, object?> Tags);
}
