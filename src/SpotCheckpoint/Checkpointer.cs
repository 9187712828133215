using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Format;
using SpotCheckpoint.Notices;
using SpotCheckpoint.Persist;
using SpotCheckpoint.Resume;
using SpotCheckpoint.Staging;
using SpotCheckpoint.State;
using SpotCheckpoint.Storage;
using static TorchSharp.torch;
using static TorchSharp.torch.optim.lr_scheduler;

namespace SpotCheckpoint;

/// <summary>
/// Checkpoints a TorchSharp training job. Register what to save (modules, optimizers, schedulers, user state),
/// call <see cref="ResumeAsync"/> once before training, and <see cref="Step"/> after every optimizer step. A due
/// checkpoint copies the state into reusable host buffers at the step boundary (the only time training waits), then
/// streams it to the store in the background and commits it atomically.
/// </summary>
/// <example>
/// <code>
/// await using var ckpt = Checkpointer.Create("./checkpoints", o => o.RunId = "demo")
///     .AddModule("model", model).AddOptimizer("optimizer", optimizer).AddScheduler("scheduler", scheduler);
/// var resume = await ckpt.ResumeAsync();
/// for (long step = resume.Step + 1; step &lt;= totalSteps; step++)
/// {
///     TrainOneStep();
///     ckpt.Step(step);
/// }
/// </code>
/// </example>
public sealed partial class Checkpointer : IAsyncDisposable
{
    private readonly ICheckpointStore _store;
    private readonly bool _ownsStore;
    private readonly CheckpointerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TrainingStateRegistry _registry = new();
    private readonly StagingSlotPool _pool;
    private readonly SnapshotTaker _snapshots;
    private readonly PersistPipeline _persist;
    private readonly RunTimeline _timeline = new();
    private readonly CudaReseeder _reseeder;
    private readonly RunHistoryRecorder _history;

    private long _step;
    private long _lastCheckpointStep = -1;
    private long _lastCheckpointTimestamp;
    private bool _disposed;

    /// <summary>Creates a checkpointer writing to <paramref name="store"/>.</summary>
    /// <param name="store">Where checkpoints go. Not disposed by the checkpointer.</param>
    /// <param name="options">Options; validated here (<see cref="ArgumentException"/> names the bad one).</param>
    /// <param name="logger">Logger; none when null.</param>
    /// <param name="timeProvider">Clock for time-based policies; the system clock when null.</param>
    public Checkpointer(ICheckpointStore store, CheckpointerOptions? options = null, ILogger<Checkpointer>? logger = null, TimeProvider? timeProvider = null)
        : this(store, ownsStore: false, options, logger, timeProvider)
    {
    }

    private Checkpointer(ICheckpointStore store, bool ownsStore, CheckpointerOptions? options, ILogger? logger, TimeProvider? timeProvider)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _ownsStore = ownsStore;
        _options = options ?? new CheckpointerOptions();
        _options.Validate();
        DeterministicStartup.WarmUpVectorMath(); // before the first training step (see its remarks)
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _pool = new StagingSlotPool(_options.StagingBuffers, _logger);
        _registry.CaptureCpuRng = _options.CaptureCpuRng;
        _registry.CudaSeed = _options.CudaSeed;
        _reseeder = new CudaReseeder(_options.CudaSeed);
        _snapshots = new SnapshotTaker(_registry, _pool, _options.MaxShardBytes, _options.CudaStagingMode);
        _notices = new NoticeHub(_options.Notices, _logger, _time);
        _history = new RunHistoryRecorder(_options.Cost, _notices, _time);
        _persist = new PersistPipeline(_store, _options, _logger, _time, _pool, _timeline, _history);
        _lastCheckpointTimestamp = _time.GetTimestamp();
        _notices.CheckpointDurationEstimate = EstimateCheckpointDuration; // a long notice's emergency starts this early
        _notices.NoticeReceived += OnNoticeReceived;
    }

    /// <summary>
    /// Creates a checkpointer for a location: a local path or <c>file://</c> URI (the embedded local store), or a
    /// URI of a registered provider (<c>s3://</c>, <c>gs://</c>, <c>az://</c>). The store is disposed with the
    /// checkpointer.
    /// </summary>
    public static Checkpointer Create(string location, Action<CheckpointerOptions>? configure = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        var options = new CheckpointerOptions();
        configure?.Invoke(options);
        return new Checkpointer(CheckpointStores.Open(location), ownsStore: true, options,
            loggerFactory?.CreateLogger<Checkpointer>(), timeProvider);
    }

    /// <summary>The run id.</summary>
    public string RunId => _options.RunId;

    /// <summary>The store checkpoints go to.</summary>
    public ICheckpointStore Store => _store;

    /// <summary>The last step passed to <see cref="Step"/> (or restored by <see cref="ResumeAsync"/>).</summary>
    public long CurrentStep => Volatile.Read(ref _step);

    /// <summary>The epoch counter saved with each checkpoint; set it as your loop advances.</summary>
    public long Epoch { get; set; }

    /// <summary>Counters and the latest timings.</summary>
    public CheckpointerStatistics Statistics => _persist.Statistics;

    /// <summary>
    /// Restores the newest committed checkpoint that verifies, falling back to older ones (with a warning) when the
    /// newest is corrupt, does not fit the registered state, or cannot be read after retries. Returns a fresh result
    /// when the run has no checkpoint. Probes the location first (<see cref="CheckpointLocationException"/>).
    /// Throws <see cref="CheckpointMismatchException"/> when no checkpoint fits the registered state,
    /// <see cref="NoUsableCheckpointException"/> when none is usable for other reasons, and
    /// <see cref="CheckpointRestoreException"/> when a restore failed part-way for a reason other than the store.
    /// </summary>
    public Task<ResumeResult> ResumeAsync(CancellationToken cancellationToken = default) => ResumeCoreAsync(null, cancellationToken);

    /// <summary>
    /// Restores exactly the checkpoint of <paramref name="step"/>, with no fallback. Throws
    /// <see cref="CheckpointNotFoundException"/> when the run has no committed checkpoint there.
    /// </summary>
    public Task<ResumeResult> ResumeFromAsync(long step, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        return ResumeCoreAsync(step, cancellationToken);
    }

    private async Task<ResumeResult> ResumeCoreAsync(long? step, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await StartAsync(cancellationToken).ConfigureAwait(false);
        var coordinator = new ResumeCoordinator(_store, RunId, _registry, _timeline, _logger);
        var (result, manifest) = await coordinator.ResumeAsync(step, cancellationToken).ConfigureAwait(false);
        if (manifest is not null)
        {
            _history.Resumed(manifest);
            _notices.MarkHandled(manifest.HandledNotices ?? []); // a notice standing since before the restart is not acted on again
        }
        Volatile.Write(ref _step, result.Step);
        Epoch = result.Epoch;
        _lastCheckpointStep = result.Resumed ? result.Step : -1;
        _lastCheckpointTimestamp = _time.GetTimestamp();
        _reseeder.Reseed(result.Step);
        return result;
    }

    /// <summary>
    /// Reports that <paramref name="step"/> steps are complete. When the policy says a checkpoint is due, the state
    /// is copied into staging buffers now and persisted in the background; returns true then. Cheap otherwise.
    /// Throws <see cref="TooManyCheckpointFailuresException"/> once <see cref="CheckpointerOptions.MaxConsecutiveFailures"/>
    /// checkpoints in a row have failed, and <see cref="InvalidOperationException"/> when called from two threads at once.
    /// </summary>
    public bool Step(long step)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        if (_options.MaxConsecutiveFailures is int max && _persist.ConsecutiveFailures >= max)
            throw new TooManyCheckpointFailuresException(RunId, _persist.ConsecutiveFailures, _persist.Statistics.LastError);
        Volatile.Write(ref _step, step);
        _reseeder.Reseed(step);
        if (_notices.TerminationPending) return OnTerminationPending(step);
        var since = _time.GetElapsedTime(_lastCheckpointTimestamp);
        if (!_options.Policy.IsDue(step, _lastCheckpointStep, since)) return false;
        bool wait = _options.WhenBusy == BusyBehavior.Wait;
        var slot = _pool.Reserve(wait ? _options.MaxBusyWait : TimeSpan.Zero, CancellationToken.None);
        if (slot is null)
        {
            _persist.RecordSkipped(step, wait ? $"waited {_options.MaxBusyWait}" : "busy behavior is Skip");
            _lastCheckpointStep = step;
            _lastCheckpointTimestamp = _time.GetTimestamp();
            return false;
        }
        Snapshot(slot, step);
        return true;
    }

    /// <summary>
    /// Takes a checkpoint of the current state now and waits until it is committed. If a checkpoint of the current
    /// step is already committed or in flight, waits for that one instead of writing another (returning null when it
    /// was already committed).
    /// </summary>
    public Task<CheckpointResult?> CheckpointAsync(CancellationToken cancellationToken = default) =>
        TakeCheckpointAsync(CheckpointReason.Manual, cancellationToken);

    /// <summary>
    /// Like <see cref="CheckpointAsync"/>, for the last checkpoint of a finished run: the run's history records it as
    /// <see cref="CheckpointReason.Final"/>, which tells a report the run completed. A checkpoint of the current step
    /// already committed or in flight keeps the reason it was taken with.
    /// </summary>
    public Task<CheckpointResult?> CheckpointFinalAsync(CancellationToken cancellationToken = default) =>
        TakeCheckpointAsync(CheckpointReason.Final, cancellationToken);

    private async Task<CheckpointResult?> TakeCheckpointAsync(CheckpointReason reason, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await StartAsync(cancellationToken).ConfigureAwait(false);
        long step = CurrentStep;
        var existing = _pool.FindStep(step);
        if (existing is null && _timeline.NewestCommitted == step) return null;
        existing ??= Snapshot(_pool.Reserve(Timeout.InfiniteTimeSpan, cancellationToken)!, step, reason);
        var outcome = await existing.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (outcome.Error is not null)
            throw outcome.Error as CheckpointException ?? new CheckpointStoreException($"Checkpoint at step {step} failed: {outcome.Error.Message}", outcome.Error);
        return outcome.Result;
    }

    /// <summary>Waits until every background persist has finished (committed or failed), and the retention after them.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        await Task.WhenAll(_pool.PendingPersists()).WaitAsync(cancellationToken).ConfigureAwait(false);
        await _persist.Retention.Idle.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// SHA-256 over the registered state in a canonical order: every captured tensor (name, dtype, shape, bytes),
    /// then optimizer hyper-parameters and step counts, scheduler state and user state. Two runs with equal hashes
    /// hold bit-identical training state.
    /// </summary>
    public string ComputeStateSha256() => StateHasher.Compute(_registry);

    /// <summary>On the training thread: stages the state (with the notices handled so far) and starts its persist.</summary>
    private Task<PersistOutcome> Snapshot(StagingSlot slot, long step, CheckpointReason reason = CheckpointReason.Periodic)
    {
        StagedSnapshot snapshot;
        try
        {
            snapshot = _snapshots.Take(slot, RunId, step, Epoch, _time.GetUtcNow()) with { Reason = reason };
            var handled = _notices.HandledNoticeIds;
            if (handled.Count > 0) snapshot.Manifest.HandledNotices = handled.ToList();
        }
        catch
        {
            _pool.Release(slot);
            throw;
        }
        _lastCheckpointStep = step;
        _lastCheckpointTimestamp = _time.GetTimestamp();
        _persist.RecordStall(snapshot.Stall);
        return _persist.Start(slot, snapshot);
    }

    internal static string LibraryVersion => LibraryInfo.Version;
}
