using System.Diagnostics.Metrics;

namespace SpotCheckpoint.Diagnostics;

/// <summary>
/// The library's metrics: one <see cref="Meter"/> named <c>SpotCheckpoint</c> with instruments named in the
/// OpenTelemetry style (<c>spotcheckpoint.checkpoint.stall.duration</c>, unit <c>s</c>). Checkpointers record into
/// <see cref="Shared"/> unless <see cref="CheckpointerOptions.Metrics"/> names another instance (for example one
/// made from the host's <see cref="IMeterFactory"/>). Every instrument is listed in docs/metrics.md. Thread-safe.
/// </summary>
/// <example>
/// With OpenTelemetry: <c>builder.WithMetrics(m =&gt; m.AddMeter(SpotCheckpointMetrics.MeterName))</c>; from a shell:
/// <c>dotnet-counters monitor -n MyTrainer --counters SpotCheckpoint</c>.
/// </example>
public sealed class SpotCheckpointMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "SpotCheckpoint";

    private readonly Histogram<double> _stall;
    private readonly Histogram<double> _deviceStall;
    private readonly Histogram<double> _persist;
    private readonly Histogram<double> _throughput;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _bytesReused;
    private readonly Counter<long> _committed;
    private readonly Counter<long> _skipped;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _notices;
    private readonly Histogram<double> _noticeToCommit;
    private readonly Histogram<long> _stepsLost;
    private readonly TimeProvider _time;
    private readonly bool _ownsMeter;
    private readonly object _gate = new();
    private CostState? _cost;

    /// <summary>Creates the instruments on a new meter, from <paramref name="meterFactory"/> when given.</summary>
    /// <param name="meterFactory">The host's meter factory (dependency injection); a standalone meter when null.</param>
    /// <param name="timeProvider">Clock for the cost estimate; the system clock when null.</param>
    public SpotCheckpointMetrics(IMeterFactory? meterFactory = null, TimeProvider? timeProvider = null)
    {
        var options = new MeterOptions(MeterName) { Version = Checkpointer.LibraryVersion };
        _ownsMeter = meterFactory is null;
        Meter = meterFactory?.Create(options) ?? new Meter(options);
        _time = timeProvider ?? TimeProvider.System;
        _stall = Meter.CreateHistogram<double>("spotcheckpoint.checkpoint.stall.duration", "s",
            "How long training was blocked while a snapshot was copied into staging buffers.");
        _deviceStall = Meter.CreateHistogram<double>("spotcheckpoint.checkpoint.device_stall.duration", "s",
            "How long the GPU's default stream waited for a snapshot's device-to-host copies (CUDA state only).");
        _persist = Meter.CreateHistogram<double>("spotcheckpoint.checkpoint.persist.duration", "s",
            "From the end of a snapshot to its committed manifest.");
        _throughput = Meter.CreateHistogram<double>("spotcheckpoint.checkpoint.persist.throughput", "By/s",
            "Bytes of a committed checkpoint divided by its persist duration.");
        _bytes = Meter.CreateCounter<long>("spotcheckpoint.checkpoint.bytes", "By",
            "Bytes written by committed checkpoints (shards or chunk packs, and manifests).");
        _bytesReused = Meter.CreateCounter<long>("spotcheckpoint.checkpoint.bytes.reused", "By",
            "Tensor bytes committed incremental checkpoints referenced where an earlier checkpoint stored them, instead of writing them.");
        _committed = Meter.CreateCounter<long>("spotcheckpoint.checkpoint.committed", "{checkpoint}",
            "Checkpoints committed.");
        _skipped = Meter.CreateCounter<long>("spotcheckpoint.checkpoint.skipped", "{checkpoint}",
            "Due checkpoints skipped because the previous one was still persisting.");
        _failed = Meter.CreateCounter<long>("spotcheckpoint.checkpoint.failed", "{checkpoint}",
            "Checkpoints whose persist failed (they stay invisible).");
        _notices = Meter.CreateCounter<long>("spotcheckpoint.notice.received", "{notice}",
            "Termination, risk and informational notices received.");
        _noticeToCommit = Meter.CreateHistogram<double>("spotcheckpoint.notice.commit.duration", "s",
            "From a termination notice to the commit of the emergency checkpoint.");
        _stepsLost = Meter.CreateHistogram<long>("spotcheckpoint.interruption.steps_lost", "{step}",
            "Training steps completed but not in the checkpoint a run resumed from after an interruption.");
        Meter.CreateObservableGauge("spotcheckpoint.cost.savings", ObserveSavings, "{currency}",
            "Estimated savings against on-demand since prices were set: on-demand price × useful hours − spot price × hours.");
    }

    /// <summary>The instance checkpointers use by default, on a meter of its own.</summary>
    public static SpotCheckpointMetrics Shared { get; } = new();

    /// <summary>The meter holding the instruments.</summary>
    public Meter Meter { get; }

    /// <summary>
    /// Turns on the cost estimate (<c>spotcheckpoint.cost.savings</c>) from now on: hourly prices of the same
    /// machine on demand and on spot, in any one currency.
    /// </summary>
    public void SetPrices(double onDemandPerHour, double spotPerHour)
    {
        if (!(onDemandPerHour >= 0) || double.IsInfinity(onDemandPerHour)) throw new ArgumentOutOfRangeException(nameof(onDemandPerHour), onDemandPerHour, "Prices must be finite and >= 0.");
        if (!(spotPerHour >= 0) || double.IsInfinity(spotPerHour)) throw new ArgumentOutOfRangeException(nameof(spotPerHour), spotPerHour, "Prices must be finite and >= 0.");
        lock (_gate) _cost = new CostState(onDemandPerHour, spotPerHour, _time.GetTimestamp());
    }

    /// <summary>
    /// The estimated savings against on-demand since <see cref="SetPrices"/>: on-demand price × (hours − wasted
    /// hours) − spot price × hours, where wasted hours are checkpoint stalls plus work lost to interruptions. Null
    /// until prices are set.
    /// </summary>
    public double? EstimatedSavings
    {
        get
        {
            lock (_gate)
            {
                if (_cost is not { } c) return null;
                double hours = _time.GetElapsedTime(c.Since).TotalHours;
                double useful = Math.Max(0, hours - c.WastedSeconds / 3600);
                return c.OnDemandPerHour * useful - c.SpotPerHour * hours;
            }
        }
    }

    /// <summary>Records a termination, risk or informational notice.</summary>
    /// <param name="provider">Who sent it: <c>aws</c>, <c>gcp</c>, <c>azure</c>, <c>signal</c>, <c>custom</c>, …</param>
    /// <param name="kind">What it means: <c>termination</c>, <c>risk</c> or <c>informational</c>.</param>
    public void RecordNotice(string provider, string kind) =>
        _notices.Add(1, new KeyValuePair<string, object?>("spotcheckpoint.notice.provider", provider),
            new KeyValuePair<string, object?>("spotcheckpoint.notice.kind", kind));

    /// <summary>Records the time from a termination notice to the commit of its emergency checkpoint.</summary>
    public void RecordNoticeToCommit(string provider, TimeSpan latency) =>
        _noticeToCommit.Record(latency.TotalSeconds, new KeyValuePair<string, object?>("spotcheckpoint.notice.provider", provider));

    /// <summary>
    /// Records an interruption's loss, once known (typically on resume): the steps that were trained but are not in
    /// the checkpoint resumed from, and the training time they took (counted as waste in the cost estimate).
    /// </summary>
    /// <param name="stepsLost">Steps lost; 0 when an emergency checkpoint saved everything.</param>
    /// <param name="lostWork">The time those steps took, when known.</param>
    /// <param name="provider">The provider whose notice announced it, or <c>none</c>.</param>
    public void RecordInterruption(long stepsLost, TimeSpan lostWork = default, string provider = "none")
    {
        ArgumentOutOfRangeException.ThrowIfNegative(stepsLost);
        _stepsLost.Record(stepsLost, new KeyValuePair<string, object?>("spotcheckpoint.notice.provider", provider));
        AddWaste(lostWork);
    }

    internal void RecordStall(TimeSpan stall)
    {
        _stall.Record(stall.TotalSeconds);
        AddWaste(stall);
    }

    // Not added to the waste: the host stall, already counted, overlaps it.
    internal void RecordDeviceStall(TimeSpan deviceStall) => _deviceStall.Record(deviceStall.TotalSeconds);

    internal void RecordCommitted(TimeSpan persist, long bytes, long reusedBytes = 0)
    {
        _committed.Add(1);
        _bytes.Add(bytes);
        if (reusedBytes > 0) _bytesReused.Add(reusedBytes);
        _persist.Record(persist.TotalSeconds);
        if (persist > TimeSpan.Zero) _throughput.Record(bytes / persist.TotalSeconds);
    }

    internal void RecordFailed(Exception error) =>
        _failed.Add(1, new KeyValuePair<string, object?>("error.type", error.GetType().FullName));

    internal void RecordSkipped(string reason) =>
        _skipped.Add(1, new KeyValuePair<string, object?>("spotcheckpoint.skip.reason", reason));

    /// <summary>Disposes the meter (when it was not made by a factory, which owns it).</summary>
    public void Dispose()
    {
        if (_ownsMeter) Meter.Dispose();
    }

    private void AddWaste(TimeSpan time)
    {
        if (time <= TimeSpan.Zero) return;
        lock (_gate)
        {
            if (_cost is not null) _cost.WastedSeconds += time.TotalSeconds;
        }
    }

    private IEnumerable<Measurement<double>> ObserveSavings() =>
        EstimatedSavings is { } savings ? [new Measurement<double>(savings)] : [];

    private sealed class CostState(double onDemandPerHour, double spotPerHour, long since)
    {
        public double OnDemandPerHour { get; } = onDemandPerHour;
        public double SpotPerHour { get; } = spotPerHour;
        public long Since { get; } = since;
        public double WastedSeconds { get; set; }
    }
}
