using System.Globalization;

namespace SpotCheckpoint.Scheduling;

/// <summary>
/// Checkpoints at the interval that wastes the least GPU time (<see cref="CheckpointOptimum"/>) for the measured
/// stall δ, persist time p and slowdown s while a persist runs, and the mean time to interruption M of a
/// <see cref="HazardModel"/>, kept within
/// [<see cref="AdaptiveCheckpointPolicyOptions.MinInterval"/>, <see cref="AdaptiveCheckpointPolicyOptions.MaxInterval"/>]
/// and placed on the step boundary nearest to it.
/// </summary>
/// <remarks>
/// <para>Training loses the stall (the longer of host and device stall) and the slowdown while the persist runs;
/// the persist itself only delays the commit, which adds to the work an interruption can take and bounds the
/// interval from below (one persist at a time). δ and p are learned from <see cref="OnCheckpointCommitted(CheckpointCommitCost)"/>,
/// averaged (EWMA) with each sample capped at 4× the average so one outlier cannot swing it. s is measured from the
/// step times seen by <see cref="IsDue"/> with and without a persist in flight (or taken from
/// <see cref="CheckpointCommitCost.PersistSlowdown"/> when the caller measured it);
/// <see cref="AdaptiveCheckpointPolicyOptions.PersistCostFraction"/> stands in until then. The step duration is an
/// EWMA of the time between <see cref="IsDue"/> calls on the policy's clock. M comes from the hazard model (prior per GPU family, observed
/// interruptions, weekend factor), shortened while a risk raised by <see cref="RaiseRisk"/> lasts.</para>
/// <para><see cref="IsDue"/> runs on the training thread in O(1) without allocating; the model is re-read every
/// minute of the clock or when something changed. <see cref="OnCheckpointCommitted(CheckpointCommitCost)"/>, <see cref="RaiseRisk"/> and
/// <see cref="RecordInterruption"/> may be called from any thread.</para>
/// </remarks>
public sealed partial class AdaptiveCheckpointPolicy : CheckpointPolicy
{
    private const double RefreshSeconds = 60;
    private const double OutlierCap = 4;
    private const int SlowdownSamples = 3;
    private const double MaxSlowdown = 0.9;

    private readonly TimeProvider _time;
    private readonly HazardModel _hazard;
    private readonly double _secondsPerTick;
    private readonly long _refreshTicks;
    private readonly double _minSeconds;
    private readonly double _maxSeconds;
    private readonly double _persistFraction;
    private readonly double _costWeight;
    private readonly double _stepWeight;
    private readonly double _coverage;
    private readonly double _riskMultiplier;
    private readonly TimeSpan _riskDuration;

    // Training thread only (IsDue and what it calls).
    private bool _hasLast;
    private long _lastTimestamp;
    private long _lastStep;
    private long _exposureTicks;
    private long _nextRefresh = long.MinValue;
    private int _seenVersion = -1;
    private int _seenHazardVersion = -1;
    private long _seenCheckpointStep = long.MinValue;
    private int _seenCommits;
    private int _commitTarget;
    private bool _inFlight;
    private long _inFlightSince;
    private double _cleanStepSeconds;
    private double _busyStepSeconds;
    private int _busySamples;

    // Written by the training thread, read by anyone.
    private double _stepSeconds;
    private double _intervalSeconds;
    private double _mtbiSeconds;
    private double _measuredSlowdown = -1;
    private double _slowdownInUse;

    // Written by other threads.
    private readonly object _costGate = new();
    private double _stallSeconds;
    private double _persistSeconds;
    private double _givenSlowdown = -1;
    private bool _costMeasured;
    private int _commits;
    private int _version;
    private long _riskUntil = long.MinValue;
    private int _checkpointRequested;

    /// <summary>Creates the policy; <paramref name="options"/> are validated here.</summary>
    public AdaptiveCheckpointPolicy(AdaptiveCheckpointPolicyOptions? options = null)
    {
        var o = options ?? new AdaptiveCheckpointPolicyOptions();
        o.Validate();
        _time = o.TimeProvider;
        _hazard = o.Hazard ?? BuildHazard(o);
        _secondsPerTick = 1.0 / _time.TimestampFrequency;
        _refreshTicks = (long)(RefreshSeconds * _time.TimestampFrequency);
        _minSeconds = o.MinInterval.TotalSeconds;
        _maxSeconds = o.MaxInterval.TotalSeconds;
        _persistFraction = o.PersistCostFraction;
        _costWeight = o.CostSmoothing;
        _stepWeight = o.StepSmoothing;
        _coverage = o.NoticeCoverage;
        _riskMultiplier = o.RiskHazardMultiplier;
        _riskDuration = o.RiskDuration;
        _stallSeconds = o.InitialCheckpointCost.TotalSeconds;
        _slowdownInUse = _persistFraction;
        Refresh(_time.GetTimestamp());
    }

    /// <summary>The hazard model: record interruptions on it, and keep it with the run (<see cref="HazardModel.BeginAttemptAsync"/>).</summary>
    public HazardModel Hazard => _hazard;

    /// <summary>
    /// What one checkpoint currently costs training: the stall plus the slowdown while its persist runs, δ + s·p
    /// (the initial guess until one is measured).
    /// </summary>
    public TimeSpan CheckpointCost
    {
        get
        {
            double s = Volatile.Read(ref _slowdownInUse);
            lock (_costGate) return TimeSpan.FromSeconds(_stallSeconds + s * _persistSeconds);
        }
    }

    /// <summary>p: the persist time the policy plans with (EWMA); zero until a checkpoint was committed.</summary>
    public TimeSpan PersistDuration { get { lock (_costGate) return TimeSpan.FromSeconds(_persistSeconds); } }

    /// <summary>
    /// s: the share of training speed lost while a persist is in flight, as the policy plans with it: the caller's
    /// measurement, else the policy's own (step times with and without a persist in flight), else
    /// <see cref="AdaptiveCheckpointPolicyOptions.PersistCostFraction"/>.
    /// </summary>
    public double PersistSlowdown => Volatile.Read(ref _slowdownInUse);

    /// <summary>The slowdown measured from step times, or null until enough steps with a persist in flight were seen.</summary>
    public double? MeasuredPersistSlowdown { get { double s = Volatile.Read(ref _measuredSlowdown); return s >= 0 ? s : null; } }

    /// <summary>The measured step duration; zero until two steps have been seen.</summary>
    public TimeSpan StepDuration => TimeSpan.FromSeconds(Volatile.Read(ref _stepSeconds));

    /// <summary>M: the mean time to an interruption that periodic checkpoints must cover, as of the last refresh.</summary>
    public TimeSpan MeanTimeToInterruption => Seconds(Volatile.Read(ref _mtbiSeconds));

    /// <summary>The interval the policy aims for (within the bounds), as of the last refresh.</summary>
    public TimeSpan Interval => TimeSpan.FromSeconds(Volatile.Read(ref _intervalSeconds));

    /// <summary>The interval in steps at the measured step duration; 0 until the step duration is known.</summary>
    public long IntervalSteps
    {
        get
        {
            double step = Volatile.Read(ref _stepSeconds);
            return step > 0 ? Math.Max(1, (long)Math.Round(Volatile.Read(ref _intervalSeconds) / step)) : 0;
        }
    }

    /// <summary>True while a risk raised by <see cref="RaiseRisk"/> lasts.</summary>
    public bool IsRiskRaised => _time.GetTimestamp() < Interlocked.Read(ref _riskUntil);

    /// <inheritdoc />
    public override bool IsDue(long step, long lastCheckpointStep, TimeSpan sinceLastCheckpoint)
    {
        long now = _time.GetTimestamp();
        int commits = Volatile.Read(ref _commits);
        if (_hasLast)
        {
            long elapsed = now - _lastTimestamp;
            bool committedMeanwhile = commits != _seenCommits;
            bool stillInFlight = _inFlight && commits < _commitTarget;
            if (elapsed > 0)
            {
                _exposureTicks += elapsed;
                // A checkpoint at the previous boundary put its stall into this interval, and a resume or rollback
                // starts the count afresh: neither is a step duration.
                if (step > _lastStep && lastCheckpointStep < _lastStep)
                {
                    double sample = elapsed * _secondsPerTick / (step - _lastStep);
                    ObserveStep(sample);
                    // A step during which the persist committed ran partly with it, partly without: neither sample.
                    if (stillInFlight) ObserveSlowdown(sample, busy: true);
                    else if (!_inFlight && !committedMeanwhile) ObserveSlowdown(sample, busy: false);
                }
            }
            if (lastCheckpointStep != _seenCheckpointStep && lastCheckpointStep == _lastStep && step > _lastStep)
            {
                // A snapshot was taken at the previous boundary: its persist runs until its commit, which follows
                // the commit of a persist still in flight before it (one persist at a time).
                _commitTarget = _seenCommits + (_inFlight ? 2 : 1);
                _inFlight = commits < _commitTarget;
                _inFlightSince = now;
            }
            else if (_inFlight && (!stillInFlight || PersistOverdue(now)))
            {
                _inFlight = false;
            }
        }
        _seenCheckpointStep = lastCheckpointStep;
        _seenCommits = commits;
        _hasLast = true;
        _lastTimestamp = now;
        _lastStep = step;
        if (step <= lastCheckpointStep) return false;

        if (now >= _nextRefresh || Volatile.Read(ref _version) != _seenVersion || _hazard.Version != _seenHazardVersion)
            Refresh(now);

        double since = sinceLastCheckpoint.TotalSeconds;
        if (Volatile.Read(ref _checkpointRequested) != 0)
        {
            Interlocked.Exchange(ref _checkpointRequested, 0);
            // Checkpoint at once, unless the last one is so recent that it already holds nearly all the work.
            if (lastCheckpointStep < 0 || since >= _minSeconds) return true;
        }
        return since + _stepSeconds / 2 >= _intervalSeconds;
    }

    /// <inheritdoc />
    public override void OnCheckpointCommitted(TimeSpan stall, TimeSpan persist, long bytes) =>
        OnCheckpointCommitted(new CheckpointCommitCost(stall, persist, bytes));

    /// <inheritdoc />
    public override void OnCheckpointCommitted(CheckpointCommitCost cost)
    {
        double stall = Math.Max(0, cost.EffectiveStall.TotalSeconds);
        double persistSeconds = Math.Max(0, cost.Persist.TotalSeconds);
        double given = cost.PersistSlowdown is { } lost && persistSeconds > 0
            ? Math.Clamp(lost.TotalSeconds / persistSeconds, 0, MaxSlowdown)
            : -1;
        lock (_costGate)
        {
            if (!_costMeasured)
            {
                _stallSeconds = stall;
                _persistSeconds = persistSeconds;
                _costMeasured = true;
            }
            else
            {
                _stallSeconds += _costWeight * (Cap(stall, _stallSeconds) - _stallSeconds);
                _persistSeconds += _costWeight * (Cap(persistSeconds, _persistSeconds) - _persistSeconds);
            }
            if (given >= 0) _givenSlowdown = _givenSlowdown < 0 ? given : _givenSlowdown + _costWeight * (given - _givenSlowdown);
        }
        Interlocked.Increment(ref _commits);
        Interlocked.Increment(ref _version);
    }

    /// <summary>
    /// The risk of an interruption is high right now (an AWS rebalance recommendation, a scheduled maintenance
    /// event): checkpoint at the next step boundary (unless the last checkpoint is younger than the minimum interval),
    /// then, for <paramref name="duration"/> (default <see cref="AdaptiveCheckpointPolicyOptions.RiskDuration"/>),
    /// plan with the hazard multiplied by <see cref="AdaptiveCheckpointPolicyOptions.RiskHazardMultiplier"/>. A
    /// second call extends the window to the later end. Thread-safe, cheap.
    /// </summary>
    public override void RaiseRisk(TimeSpan? duration = null)
    {
        var d = duration ?? _riskDuration;
        if (d <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(duration), d, "The duration must be positive.");
        long until = _time.GetTimestamp() + (long)Math.Min(d.TotalSeconds * _time.TimestampFrequency, long.MaxValue / 4);
        long current;
        do
        {
            current = Interlocked.Read(ref _riskUntil);
            if (current >= until) break;
        }
        while (Interlocked.CompareExchange(ref _riskUntil, until, current) != current);
        Interlocked.Exchange(ref _checkpointRequested, 1);
        Interlocked.Increment(ref _version);
    }

    /// <summary>Records an observed interruption in <see cref="Hazard"/>; the interval tightens accordingly.</summary>
    public override void RecordInterruption() => _hazard.RecordInterruption();

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"adaptive (interval {Interval.TotalSeconds:F0} s, checkpoint cost {CheckpointCost.TotalSeconds:F3} s, mean time to interruption {MeanTimeToInterruption.TotalSeconds:F0} s)");

    private static HazardModel BuildHazard(AdaptiveCheckpointPolicyOptions o)
    {
        var family = o.GpuFamily != GpuFamily.Unknown ? o.GpuFamily : InstanceTypes.GpuFamilyOf(o.InstanceType);
        double prior = o.HazardPerHour ?? HazardPriors.PerHour(family);
        return new HazardModel(prior, o.PriorWeightHours, o.WeekendFactor, o.TimeProvider) { GpuFamily = family };
    }
}
