namespace SpotCheckpoint.Scheduling;

/// <summary>
/// Decides at each step boundary whether a checkpoint is due. Called on the training thread once per step, so
/// implementations must be O(1) and allocation-free.
/// </summary>
public abstract class CheckpointPolicy
{
    /// <summary>True when a checkpoint should be taken at <paramref name="step"/>.</summary>
    /// <param name="step">Steps completed.</param>
    /// <param name="lastCheckpointStep">Step of the last checkpoint taken (or resumed from); -1 when none.</param>
    /// <param name="sinceLastCheckpoint">Time since that checkpoint (or since training started).</param>
    public abstract bool IsDue(long step, long lastCheckpointStep, TimeSpan sinceLastCheckpoint);

    /// <summary>
    /// Called after each committed checkpoint with what it cost, so adaptive policies can learn. Runs on a
    /// background thread; the default does nothing.
    /// </summary>
    /// <param name="stall">How long training was blocked by the snapshot.</param>
    /// <param name="persist">From the end of the snapshot to the commit.</param>
    /// <param name="bytes">Bytes written.</param>
    public virtual void OnCheckpointCommitted(TimeSpan stall, TimeSpan persist, long bytes) { }

    /// <summary>
    /// Called after each committed checkpoint with everything measured about its cost: the host stall, the device
    /// stall of a CUDA snapshot and, when known, the training time lost while the persist ran. Runs on a background
    /// thread; the default forwards to <see cref="OnCheckpointCommitted(TimeSpan, TimeSpan, long)"/> with the
    /// effective stall (the longer of host and device).
    /// </summary>
    /// <param name="cost">What the checkpoint cost.</param>
    public virtual void OnCheckpointCommitted(CheckpointCommitCost cost) => OnCheckpointCommitted(cost.EffectiveStall, cost.Persist, cost.Bytes);

    /// <summary>
    /// Signals that an interruption is likely soon (an AWS rebalance recommendation, a scheduled maintenance event).
    /// <see cref="AdaptiveCheckpointPolicy"/> checkpoints at the next step boundary and tightens its interval for
    /// <paramref name="duration"/>; the fixed policies ignore it. Thread-safe.
    /// </summary>
    /// <param name="duration">How long the risk lasts; the policy's default when null.</param>
    public virtual void RaiseRisk(TimeSpan? duration = null) { }

    /// <summary>
    /// Records that the run was interrupted (a termination notice arrived), so adaptive policies can learn the
    /// interruption rate. Thread-safe; the fixed policies ignore it.
    /// </summary>
    public virtual void RecordInterruption() { }

    /// <summary>A checkpoint every <paramref name="steps"/> steps (at multiples of it).</summary>
    public static CheckpointPolicy EverySteps(long steps) => new StepPolicy(steps);

    /// <summary>A checkpoint once <paramref name="interval"/> has passed since the last one.</summary>
    public static CheckpointPolicy Every(TimeSpan interval) => new IntervalPolicy(interval);

    /// <summary>
    /// Checkpoints at the Young/Daly optimum for the measured checkpoint cost and the interruption hazard of the GPU
    /// (see <see cref="AdaptiveCheckpointPolicy"/>), e.g. <c>CheckpointPolicy.Adaptive(o =&gt; o.InstanceType = "p5.48xlarge")</c>.
    /// </summary>
    public static AdaptiveCheckpointPolicy Adaptive(Action<AdaptiveCheckpointPolicyOptions>? configure = null)
    {
        var options = new AdaptiveCheckpointPolicyOptions();
        configure?.Invoke(options);
        return new AdaptiveCheckpointPolicy(options);
    }

    /// <summary>No automatic checkpoints; only explicit <see cref="Checkpointer.CheckpointAsync"/> calls.</summary>
    public static CheckpointPolicy Manual { get; } = new ManualPolicy();

    private sealed class StepPolicy : CheckpointPolicy
    {
        private readonly long _steps;

        public StepPolicy(long steps)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
            _steps = steps;
        }

        public override bool IsDue(long step, long lastCheckpointStep, TimeSpan sinceLastCheckpoint) =>
            step > lastCheckpointStep && step % _steps == 0;

        public override string ToString() => $"every {_steps} steps";
    }

    private sealed class IntervalPolicy : CheckpointPolicy
    {
        private readonly TimeSpan _interval;

        public IntervalPolicy(TimeSpan interval)
        {
            if (interval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(interval), interval, "The interval must be positive.");
            _interval = interval;
        }

        public override bool IsDue(long step, long lastCheckpointStep, TimeSpan sinceLastCheckpoint) =>
            step > lastCheckpointStep && sinceLastCheckpoint >= _interval;

        public override string ToString() => $"every {_interval}";
    }

    private sealed class ManualPolicy : CheckpointPolicy
    {
        public override bool IsDue(long step, long lastCheckpointStep, TimeSpan sinceLastCheckpoint) => false;

        public override string ToString() => "manual";
    }
}
