using System.Text.Json;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Scheduling;

/// <summary>
/// The interruption rate of a run: a prior per GPU family, updated with the interruptions the run observes.
/// The rate follows a gamma–Poisson model: with prior rate λ₀ worth W hours of observation, k interruptions over
/// E exposed hours give λ = (λ₀·W + k) / (W + E). On Saturdays and Sundays (UTC) the rate is multiplied by
/// <see cref="WeekendFactor"/>. Thread-safe.
/// </summary>
/// <remarks>
/// Keep the observations with the run: <see cref="BeginAttemptAsync"/> when training starts (it loads
/// <c>&lt;run&gt;/hazard.json</c> and counts an attempt that never ended as an interruption),
/// <see cref="SaveAsync"/> now and then, and <see cref="EndAttemptAsync"/> when the attempt ends normally.
/// </remarks>
public sealed class HazardModel
{
    /// <summary>The object name, under the run's prefix, where the state is kept.</summary>
    public const string StateFileName = "hazard.json";

    private const int MaxStateBytes = 64 * 1024;
    private readonly object _gate = new();
    private long _interruptions;
    private double _exposureHours;
    private DateTimeOffset? _lastInterruption;
    private int _version;

    /// <summary>Creates a model.</summary>
    /// <param name="priorPerHour">λ₀, the interruption rate assumed before any observation, per hour (weekdays).</param>
    /// <param name="priorWeightHours">W: how many hours of observation the prior is worth. Default 24.</param>
    /// <param name="weekendFactor">Rate on Saturdays and Sundays (UTC) relative to weekdays, 0–1. Default 0.6.</param>
    /// <param name="timeProvider">Clock for time stamps; the system clock when null.</param>
    public HazardModel(double priorPerHour, double priorWeightHours = 24, double weekendFactor = HazardPriors.WeekendFactor, TimeProvider? timeProvider = null)
    {
        if (!(priorPerHour > 0) || double.IsInfinity(priorPerHour))
            throw new ArgumentOutOfRangeException(nameof(priorPerHour), priorPerHour, "The prior hazard must be a positive rate per hour.");
        if (!(priorWeightHours > 0) || double.IsInfinity(priorWeightHours))
            throw new ArgumentOutOfRangeException(nameof(priorWeightHours), priorWeightHours, "The prior weight must be a positive number of hours.");
        if (!(weekendFactor > 0) || weekendFactor > 1)
            throw new ArgumentOutOfRangeException(nameof(weekendFactor), weekendFactor, "The weekend factor must be in (0, 1].");
        PriorPerHour = priorPerHour;
        PriorWeightHours = priorWeightHours;
        WeekendFactor = weekendFactor;
        TimeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>A model with the prior of <paramref name="family"/> (<see cref="HazardPriors.PerHour"/>).</summary>
    public static HazardModel ForGpuFamily(GpuFamily family, TimeProvider? timeProvider = null) =>
        new(HazardPriors.PerHour(family), timeProvider: timeProvider) { GpuFamily = family };

    /// <summary>A model with the prior of the GPU that <paramref name="instanceType"/> carries (<see cref="InstanceTypes.GpuFamilyOf"/>).</summary>
    public static HazardModel ForInstanceType(string? instanceType, TimeProvider? timeProvider = null) =>
        ForGpuFamily(InstanceTypes.GpuFamilyOf(instanceType), timeProvider);

    /// <summary>λ₀, per hour.</summary>
    public double PriorPerHour { get; }

    /// <summary>W, in hours.</summary>
    public double PriorWeightHours { get; }

    /// <summary>The weekend factor.</summary>
    public double WeekendFactor { get; }

    /// <summary>The GPU family the prior was chosen for, for information.</summary>
    public GpuFamily GpuFamily { get; init; }

    /// <summary>The clock used for time stamps.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>Interruptions observed (restored ones included).</summary>
    public long Interruptions { get { lock (_gate) return _interruptions; } }

    /// <summary>Weekday-equivalent hours of exposure observed (restored ones included).</summary>
    public double ExposureHours { get { lock (_gate) return _exposureHours; } }

    /// <summary>The weekday interruption rate per hour: (λ₀·W + k) / (W + E).</summary>
    public double RatePerHour
    {
        get { lock (_gate) return (PriorPerHour * PriorWeightHours + _interruptions) / (PriorWeightHours + _exposureHours); }
    }

    /// <summary>Changes on every observation; lets a policy notice them without taking the lock.</summary>
    internal int Version => Volatile.Read(ref _version);

    /// <summary>True on Saturdays and Sundays, UTC.</summary>
    public static bool IsWeekend(DateTimeOffset time) => time.UtcDateTime.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday;

    /// <summary>The interruption rate per hour at <paramref name="time"/> (the weekend factor applied).</summary>
    public double RatePerHourAt(DateTimeOffset time) => RatePerHour * (IsWeekend(time) ? WeekendFactor : 1);

    /// <summary>Records an observed interruption (a termination notice, or an attempt that ended without one).</summary>
    /// <param name="at">When it happened; now when null.</param>
    public void RecordInterruption(DateTimeOffset? at = null)
    {
        var when = at ?? TimeProvider.GetUtcNow();
        lock (_gate)
        {
            _interruptions++;
            if (_lastInterruption is null || when > _lastInterruption) _lastInterruption = when;
            _version++;
        }
    }

    /// <summary>Adds time the run was exposed to interruption, weighted by the weekend factor at <paramref name="at"/>.</summary>
    public void AddExposure(TimeSpan duration, DateTimeOffset at)
    {
        if (duration <= TimeSpan.Zero) return;
        double hours = duration.TotalHours * (IsWeekend(at) ? WeekendFactor : 1);
        lock (_gate)
        {
            _exposureHours += hours;
            _version++;
        }
    }

    /// <summary>The observations as a serializable state.</summary>
    /// <param name="attemptOpen">Whether an attempt is running (see <see cref="HazardState.AttemptOpen"/>).</param>
    public HazardState ToState(bool attemptOpen = false)
    {
        lock (_gate)
        {
            return new HazardState
            {
                Interruptions = _interruptions,
                ExposureHours = _exposureHours,
                LastInterruptionUtc = _lastInterruption,
                AttemptOpen = attemptOpen,
                PriorPerHour = PriorPerHour,
                GpuFamily = GpuFamily == GpuFamily.Unknown ? null : GpuFamily.ToString(),
                UpdatedUtc = TimeProvider.GetUtcNow(),
            };
        }
    }

    /// <summary>Replaces the observations with those of <paramref name="state"/>; the prior stays this model's own.</summary>
    public void Restore(HazardState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        lock (_gate)
        {
            _interruptions = state.Interruptions;
            _exposureHours = state.ExposureHours;
            _lastInterruption = state.LastInterruptionUtc;
            _version++;
        }
    }

    /// <summary>The key of a run's hazard state: <c>&lt;run&gt;/hazard.json</c>.</summary>
    public static string StateKey(string runId) => StoreKeys.ValidateRunId(runId) + "/" + StateFileName;

    /// <summary>
    /// Starts an attempt of <paramref name="runId"/>: restores the observations kept in the store (an attempt that
    /// was never ended counts as one interruption), then marks this attempt open in the store. Returns true when a
    /// state was found. A state that cannot be parsed is ignored and overwritten; store errors propagate.
    /// </summary>
    public async Task<bool> BeginAttemptAsync(ICheckpointStore store, string runId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var key = StateKey(runId);
        var state = await TryReadAsync(store, key, cancellationToken).ConfigureAwait(false);
        if (state is not null)
        {
            Restore(state);
            if (state.AttemptOpen) RecordInterruption(state.UpdatedUtc);
        }
        await WriteAsync(store, key, attemptOpen: true, cancellationToken).ConfigureAwait(false);
        return state is not null;
    }

    /// <summary>Writes the observations so far; the attempt stays open. Call it now and then (say, after checkpoints).</summary>
    public Task SaveAsync(ICheckpointStore store, string runId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        return WriteAsync(store, StateKey(runId), attemptOpen: true, cancellationToken);
    }

    /// <summary>
    /// Writes the observations and marks the attempt ended, so the next attempt does not count this one as an
    /// unannounced interruption. Call it when training finishes or stops cleanly (after an emergency checkpoint
    /// too, having recorded that interruption with <see cref="RecordInterruption"/>).
    /// </summary>
    public Task EndAttemptAsync(ICheckpointStore store, string runId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        return WriteAsync(store, StateKey(runId), attemptOpen: false, cancellationToken);
    }

    private async Task WriteAsync(ICheckpointStore store, string key, bool attemptOpen, CancellationToken cancellationToken)
    {
        var json = ToState(attemptOpen).ToJson();
        await using var writer = await store.OpenWriteAsync(key, cancellationToken).ConfigureAwait(false);
        await writer.WriteAsync(json, cancellationToken).ConfigureAwait(false);
        await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<HazardState?> TryReadAsync(ICheckpointStore store, string key, CancellationToken cancellationToken)
    {
        var length = await store.GetLengthAsync(key, cancellationToken).ConfigureAwait(false);
        if (length is null or 0 or > MaxStateBytes) return null;
        var buffer = new byte[length.Value];
        int read;
        try { read = await store.ReadAsync(key, 0, buffer, cancellationToken).ConfigureAwait(false); }
        catch (FileNotFoundException) { return null; }
        try { return HazardState.FromJson(buffer.AsSpan(0, read)); }
        catch (JsonException) { return null; }
    }
}
