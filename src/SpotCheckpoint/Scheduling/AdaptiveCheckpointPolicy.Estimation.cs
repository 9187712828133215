namespace SpotCheckpoint.Scheduling;

// Estimation: the step, slowdown and cost averages, and the refresh that turns them and the hazard into the interval.
public sealed partial class AdaptiveCheckpointPolicy
{
    private void ObserveStep(double sample)
    {
        double s = _stepSeconds;
        Volatile.Write(ref _stepSeconds, s <= 0 ? sample : s + _stepWeight * (Cap(sample, s) - s));
    }

    /// <summary>Keeps step times with and without a persist in flight apart; s = 1 − clean / busy.</summary>
    private void ObserveSlowdown(double sample, bool busy)
    {
        if (busy)
        {
            _busyStepSeconds = _busyStepSeconds <= 0 ? sample : _busyStepSeconds + _stepWeight * (Cap(sample, _busyStepSeconds) - _busyStepSeconds);
            _busySamples++;
        }
        else
        {
            _cleanStepSeconds = _cleanStepSeconds <= 0 ? sample : _cleanStepSeconds + _stepWeight * (Cap(sample, _cleanStepSeconds) - _cleanStepSeconds);
        }
        if (_busySamples >= SlowdownSamples && _cleanStepSeconds > 0)
            Volatile.Write(ref _measuredSlowdown, Math.Clamp(1 - _cleanStepSeconds / _busyStepSeconds, 0, MaxSlowdown));
    }

    /// <summary>A persist that has not committed after four times the usual persist time has failed or been dropped.</summary>
    private bool PersistOverdue(long now)
    {
        double persist = Volatile.Read(ref _persistSeconds);
        return persist > 0 && (now - _inFlightSince) * _secondsPerTick > 4 * persist + 1;
    }

    private void Refresh(long now)
    {
        _seenVersion = Volatile.Read(ref _version);
        var utc = _time.GetUtcNow();
        if (_exposureTicks > 0)
        {
            _hazard.AddExposure(TimeSpan.FromSeconds(_exposureTicks * _secondsPerTick), utc);
            _exposureTicks = 0;
        }
        _seenHazardVersion = _hazard.Version;

        double perHour = _hazard.RatePerHourAt(utc);
        long riskUntil = Interlocked.Read(ref _riskUntil);
        bool risk = now < riskUntil;
        if (risk) perHour *= _riskMultiplier;
        double perSecond = perHour * (1 - _coverage) / 3600;
        double mtbi = perSecond > 0 ? 1 / perSecond : double.PositiveInfinity;

        double stall, persist, given;
        lock (_costGate)
        {
            stall = _stallSeconds;
            persist = _persistSeconds;
            given = _givenSlowdown;
        }
        double measured = Volatile.Read(ref _measuredSlowdown);
        double slowdown = given >= 0 ? given : measured >= 0 ? measured : _persistFraction;
        Volatile.Write(ref _slowdownInUse, slowdown);
        // Training pays δ + s·p per checkpoint; the commit latency p is paid by the work at risk whatever τ is, and
        // with one staging buffer a checkpoint due while the previous one still persists has to wait.
        double tau = CheckpointOptimum.Interval(stall, persist, Math.Min(slowdown, MaxSlowdown), mtbi);
        Volatile.Write(ref _intervalSeconds, Math.Clamp(tau, _minSeconds, _maxSeconds));
        Volatile.Write(ref _mtbiSeconds, mtbi);

        long next = now + _refreshTicks;
        if (risk && riskUntil < next) next = riskUntil;
        _nextRefresh = next;
    }

    private static double Cap(double sample, double average) => average > 0 ? Math.Min(sample, OutlierCap * average) : sample;

    private static TimeSpan Seconds(double seconds) => seconds >= TimeSpan.MaxValue.TotalSeconds ? TimeSpan.MaxValue : TimeSpan.FromSeconds(seconds);
}
