using System.Diagnostics;
using System.Reflection;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Format;
using SpotCheckpoint.Notices;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Staging.Cuda;
using SpotCheckpoint.State;
using SpotCheckpoint.Storage;
using TorchSharp;
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
    private readonly StagingSlot[] _slots;
    private readonly object _gate = new();
    private readonly bool _cudaReseed;
    private CudaStagingCopierPool? _cudaCopiers;
    private readonly SpotCheckpointMetrics _metrics;
    private readonly RunHistoryRecorder _history;

    private long _step;
    private long _lastCheckpointStep = -1;
    private long _lastCheckpointTimestamp;
    private long _lastCommittedStep = -1;
    private bool _started;
    private bool _disposed;
    private CheckpointerStatistics _stats = new();

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
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _slots = Enumerable.Range(0, _options.StagingBuffers).Select(_ => new StagingSlot()).ToArray();
        _registry.CaptureCpuRng = _options.CaptureCpuRng;
        _registry.CudaSeed = _options.CudaSeed;
        _cudaReseed = _options.CudaSeed.HasValue && torch.cuda.is_available();
        _metrics = _options.Metrics ?? SpotCheckpointMetrics.Shared;
        _lastCheckpointTimestamp = _time.GetTimestamp();
        _notices = new NoticeHub(_options.Notices, _logger, _time);
        _notices.NoticeReceived += OnNoticeReceived;
        _history = new RunHistoryRecorder(_options.Cost, _notices, _time);
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
    public CheckpointerStatistics Statistics
    {
        get { lock (_gate) return _stats with { StagingBytes = _slots.Sum(s => s.Arena?.TotalBytes ?? 0) }; }
    }

    /// <summary>Registers a module's parameters and persistent buffers (restored in place).</summary>
    public Checkpointer AddModule(string name, nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        EnsureRegistrationOpen();
        _registry.AddModule(name, module);
        return this;
    }

    /// <summary>
    /// Registers an optimizer (SGD, Adam or AdamW; others raise <see cref="UnsupportedStateException"/>). Its state
    /// is keyed by parameter name, so the modules owning its parameters must be registered too.
    /// </summary>
    public Checkpointer AddOptimizer(string name, optim.Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        EnsureRegistrationOpen();
        _registry.AddOptimizer(name, optimizer);
        return this;
    }

    /// <summary>Registers an LR scheduler. SequentialLR and ChainedLR raise <see cref="UnsupportedStateException"/>.</summary>
    public Checkpointer AddScheduler(string name, LRScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        EnsureRegistrationOpen();
        _registry.AddScheduler(name, scheduler);
        return this;
    }

    /// <summary>Registers user state, such as a data loader's position.</summary>
    public Checkpointer AddState(string name, ICheckpointState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        EnsureRegistrationOpen();
        _registry.AddUserState(name, state);
        return this;
    }

    /// <summary>Registers user state kept as a JSON-serialized value.</summary>
    public Checkpointer AddState<T>(string name, Func<T> capture, Action<T> restore) =>
        AddState(name, new JsonCheckpointState<T>(capture, restore));

    private void EnsureRegistrationOpen()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_started) throw new InvalidOperationException("Register state before the first ResumeAsync, Step or CheckpointAsync call.");
    }

    /// <summary>
    /// Restores the newest committed checkpoint that verifies, falling back to older ones (with a warning) when the
    /// newest is truncated or corrupt. Returns a fresh result when the run has no checkpoint.
    /// A checkpoint that does not fit the registered state (names, shapes, dtypes) is skipped the same way, before any
    /// registered tensor changes. Throws <see cref="CheckpointMismatchException"/> (of the newest checkpoint) when no
    /// checkpoint fits the registered state, and <see cref="NoUsableCheckpointException"/> when checkpoints exist but
    /// none is usable for other reasons.
    /// </summary>
    public async Task<ResumeResult> ResumeAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        MarkStarted();
        var listings = await CheckpointCatalog.ListAsync(_store, RunId, cancellationToken).ConfigureAwait(false);
        if (listings.Count == 0)
        {
            Log.StartingFresh(_logger, RunId, _store.Description);
            Reseed(0);
            return new ResumeResult(false, 0, 0, Array.Empty<CheckpointException>());
        }

        var failures = new List<CheckpointException>();
        var corruptSteps = new List<long>();
        foreach (var listing in listings)
        {
            try
            {
                var reader = await CheckpointReader.OpenAsync(_store, RunId, listing.Step, cancellationToken).ConfigureAwait(false);
                await _registry.RestoreAsync(reader, cancellationToken).ConfigureAwait(false);
                _history.Resumed(reader.Manifest);
                Volatile.Write(ref _step, listing.Step);
                Epoch = reader.Manifest.Epoch;
                _lastCheckpointStep = listing.Step;
                _lastCommittedStep = listing.Step;
                _lastCheckpointTimestamp = _time.GetTimestamp();
                Reseed(listing.Step);
                Log.Resumed(_logger, RunId, listing.Step, _store.Description);
                await RemoveCorruptAsync(corruptSteps, cancellationToken).ConfigureAwait(false);
                return new ResumeResult(true, listing.Step, Epoch, failures);
            }
            catch (CheckpointCorruptException ex)
            {
                failures.Add(ex);
                corruptSteps.Add(listing.Step);
                Log.FallingBack(_logger, RunId, listing.Step, ex.Message);
            }
            catch (CheckpointMismatchException ex)
            {
                // Checked before any tensor changed: an older checkpoint may still fit (a hostile or foreign newest one).
                failures.Add(ex);
                Log.FallingBack(_logger, RunId, listing.Step, ex.Message);
            }
            catch (Exception ex) when (ex is CheckpointStoreException || ex is not (CheckpointException or OperationCanceledException or OutOfMemoryException))
            {
                // A read that failed (store errors, I/O errors, bad keys) also means "not usable"; such a checkpoint is
                // kept, since the failure may be passing.
                var corrupt = new CheckpointCorruptException(listing.ManifestKey, "an object could not be read: " + ex.Message, ex);
                failures.Add(corrupt);
                Log.FallingBack(_logger, RunId, listing.Step, corrupt.Message);
            }
        }
        // When no checkpoint fits the registered state at all, the model most likely changed: say so directly.
        if (failures.TrueForAll(f => f is CheckpointMismatchException)) throw failures[0];
        throw new NoUsableCheckpointException(RunId, failures);
    }

    /// <summary>Feeds notices to the metrics and the policy: a risk signal tightens the schedule at once.</summary>
    private void OnNoticeReceived(TerminationNotice notice)
    {
        _metrics.RecordNotice(notice.Provider, notice.Kind.ToString().ToLowerInvariant());
        switch (notice.Kind)
        {
            case NoticeKind.Risk:
                _options.Policy.RaiseRisk();
                break;
            case NoticeKind.Termination:
                _options.Policy.RecordInterruption();
                break;
        }
    }

    /// <summary>
    /// Deletes checkpoints newer than the one resumed from that failed verification (a checksum or structure
    /// error, not a read error): the resumed run writes those steps again, and a stale manifest would block them.
    /// </summary>
    private async Task RemoveCorruptAsync(List<long> steps, CancellationToken cancellationToken)
    {
        foreach (var step in steps)
        {
            try
            {
                await CheckpointCatalog.DeleteCheckpointAsync(_store, RunId, step, cancellationToken).ConfigureAwait(false);
                Log.RemovedCorrupt(_logger, RunId, step);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.RetentionFailed(_logger, RunId, ex);
            }
        }
    }

    /// <summary>
    /// Reports that <paramref name="step"/> steps are complete. When the policy says a checkpoint is due, the state
    /// is copied into staging buffers now and persisted in the background; returns true then. Cheap otherwise.
    /// </summary>
    public bool Step(long step)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        MarkStarted();
        Volatile.Write(ref _step, step);
        if (_cudaReseed) Reseed(step);
        if (_notices.TerminationPending) return OnTerminationPending(step);
        var since = _time.GetElapsedTime(_lastCheckpointTimestamp);
        if (!_options.Policy.IsDue(step, _lastCheckpointStep, since)) return false;
        var slot = AcquireSlot(_options.WhenBusy == BusyBehavior.Wait ? _options.MaxBusyWait : TimeSpan.Zero, CancellationToken.None);
        if (slot is null)
        {
            lock (_gate) _stats = _stats with { Skipped = _stats.Skipped + 1 };
            _metrics.RecordSkipped("busy");
            Log.Skipped(_logger, step, _options.WhenBusy == BusyBehavior.Wait ? $"waited {_options.MaxBusyWait}" : "busy behavior is Skip");
            _lastCheckpointStep = step;
            _lastCheckpointTimestamp = _time.GetTimestamp();
            return false;
        }
        Snapshot(slot, step);
        return true;
    }

    /// <summary>
    /// Takes a checkpoint of the current state now and waits until it is committed. If a checkpoint of the current
    /// step is already committed or in flight, waits for that one instead of writing another.
    /// </summary>
    public Task<CheckpointResult?> CheckpointAsync(CancellationToken cancellationToken = default) =>
        TakeCheckpointAsync(CheckpointReason.Manual, cancellationToken);

    /// <summary>
    /// Like <see cref="CheckpointAsync"/>, for the last checkpoint of a finished run: the run's history records it as
    /// <see cref="CheckpointReason.Final"/>, which tells a report the run completed.
    /// </summary>
    public Task<CheckpointResult?> CheckpointFinalAsync(CancellationToken cancellationToken = default) =>
        TakeCheckpointAsync(CheckpointReason.Final, cancellationToken);

    private async Task<CheckpointResult?> TakeCheckpointAsync(CheckpointReason reason, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        MarkStarted();
        long step = CurrentStep;
        Task<CheckpointOutcome>? existing = null;
        lock (_gate)
        {
            foreach (var s in _slots)
            {
                if (s.Step == step && s.Persist is { } p && !(p.IsCompletedSuccessfully && p.Result.Error is not null)) existing = p;
            }
        }
        if (existing is null && _lastCommittedStep == step) return null;
        if (existing is null)
        {
            var slot = AcquireSlot(Timeout.InfiniteTimeSpan, cancellationToken)!;
            existing = Snapshot(slot, step, reason);
        }
        var outcome = await existing.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (outcome.Error is not null)
            throw outcome.Error as CheckpointException ?? new CheckpointStoreException($"Checkpoint at step {step} failed: {outcome.Error.Message}", outcome.Error);
        return outcome.Result;
    }

    /// <summary>Waits until every background persist has finished (committed or failed).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        Task[] pending;
        lock (_gate) pending = _slots.Select(s => s.Persist).OfType<Task>().ToArray();
        await Task.WhenAll(pending).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// SHA-256 over the registered state in a canonical order: every captured tensor (name, dtype, shape, bytes),
    /// then optimizer hyper-parameters and step counts, scheduler state and user state. Two runs with equal hashes
    /// hold bit-identical training state.
    /// </summary>
    public string ComputeStateSha256()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var owned = new List<Tensor>();
        using (torch.NewDisposeScope())
        {
            try
            {
                var (tensors, manifest) = _registry.Capture(owned);
                foreach (var (name, tensor) in tensors)
                {
                    hash.AppendData(System.Text.Encoding.UTF8.GetBytes($"{name}|{TensorDtypes.NameOf(tensor.dtype, name)}|{string.Join(',', tensor.shape)}\n"));
                    var cpu = tensor.device_type == DeviceType.CPU && tensor.is_contiguous() ? tensor : tensor.detach().to(CPU).contiguous();
                    long length = TensorMemory.ByteLength(cpu);
                    if (length == 0) continue;
                    unsafe
                    {
                        byte* p = (byte*)TensorMemory.DataPointer(cpu);
                        for (long done = 0; done < length;)
                        {
                            int n = (int)Math.Min(1 << 30, length - done);
                            hash.AppendData(new ReadOnlySpan<byte>(p + done, n));
                            done += n;
                        }
                    }
                }
                manifest.CreatedUtc = default;
                hash.AppendData(ManifestCodec.Encode(manifest));
            }
            finally
            {
                foreach (var t in owned) t.Dispose();
            }
        }
        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }

    /// <summary>Waits for background persists to finish, then frees staging memory (and the store, when owned).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            if (_emergency is not null) await _emergency.ConfigureAwait(false);
            await _notices.DisposeAsync().ConfigureAwait(false);
            await FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            _cudaCopiers?.Dispose(); // waits for any copy still running into an arena
            foreach (var slot in _slots) slot.Arena?.Dispose();
            if (_ownsStore) await _store.DisposeAsync().ConfigureAwait(false);
        }
    }

    private StagingSlot? AcquireSlot(TimeSpan maxWait, CancellationToken cancellationToken)
    {
        // The bound is on real blocking of the training thread, so it is measured with the real clock.
        var waited = Stopwatch.StartNew();
        while (true)
        {
            Task[] busy;
            lock (_gate)
            {
                foreach (var s in _slots)
                {
                    if (s.Persist is null || s.Persist.IsCompleted) return s;
                }
                busy = _slots.Select(s => s.Persist!).ToArray<Task>();
            }
            int timeout;
            if (maxWait == Timeout.InfiniteTimeSpan) timeout = Timeout.Infinite;
            else
            {
                var remaining = maxWait - waited.Elapsed;
                if (remaining <= TimeSpan.Zero) return null;
                timeout = (int)Math.Ceiling(remaining.TotalMilliseconds);
            }
            Task.WaitAny(busy, timeout, cancellationToken);
        }
    }

    private Task<CheckpointOutcome> Snapshot(StagingSlot slot, long step, CheckpointReason reason = CheckpointReason.Periodic)
    {
        var started = Stopwatch.GetTimestamp();
        var owned = new List<Tensor>();
        CheckpointManifest manifest;
        StagingArena arena;
        IReadOnlyList<CudaCopyHandle> copies;
        using (torch.NewDisposeScope())
        {
            try
            {
                var (tensors, m) = _registry.Capture(owned);
                manifest = m;
                var layout = StagingLayout.Plan(
                    tensors.Select(t => (t.Name, TensorDtypes.NameOf(t.Tensor.dtype, t.Name), t.Tensor.shape, TensorMemory.ByteLength(t.Tensor))).ToList(),
                    _options.MaxShardBytes);
                // CUDA state is staged into pinned memory by a side-stream copier (training waits only for the enqueue).
                bool pinned = tensors.Any(t => t.Tensor.device_type == DeviceType.CUDA) && CudaRuntime.IsAvailable;
                if (slot.Arena is null || slot.Arena.Layout.Signature != layout.Signature || (slot.Arena.Buffers[0] is PinnedHostBuffer) != pinned)
                {
                    slot.Arena?.Dispose();
                    slot.Arena = null;
                    slot.Arena = pinned ? AllocatePinnedArena(layout) : new StagingArena(layout, length => new HostBuffer(length));
                    Log.StagingAllocated(_logger, slot.Arena.TotalBytes, layout.ShardDataBytes.Length);
                }
                arena = slot.Arena;
                copies = TensorCopier.CopyAll(tensors.Select(t => t.Tensor).ToList(), arena,
                    arena.Buffers[0] is PinnedHostBuffer ? _cudaCopiers ??= new CudaStagingCopierPool() : null);
            }
            finally
            {
                foreach (var t in owned) t.Dispose();
            }
        }
        var stall = Stopwatch.GetElapsedTime(started);
        manifest.RunId = RunId;
        manifest.Step = step;
        manifest.Epoch = Epoch;
        manifest.CreatedUtc = _time.GetUtcNow();
        manifest.Writer["spotcheckpoint"] = LibraryVersion;
        manifest.Writer["torchsharp"] = TorchSharpVersion;
        _lastCheckpointStep = step;
        _lastCheckpointTimestamp = _time.GetTimestamp();
        lock (_gate) _stats = _stats with { LastStall = stall };
        _metrics.RecordStall(stall);

        var cancel = new CancellationTokenSource();
        var task = Task.Run(() => PersistAsync(manifest, arena, copies, stall, reason, cancel.Token));
        lock (_gate)
        {
            slot.Step = step;
            slot.Persist = task;
            slot.Cancel?.Dispose(); // its persist has finished: the slot was free
            slot.Cancel = cancel;
            slot.PersistStarted = _time.GetTimestamp();
        }
        return task;
    }

    private async Task<CheckpointOutcome> PersistAsync(CheckpointManifest manifest, StagingArena arena, IReadOnlyList<CudaCopyHandle> copies, TimeSpan stall, CheckpointReason reason, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            // The device-to-host copies must have landed before the staged bytes are read (and before the arena is reused).
            foreach (var copy in copies) await copy.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            TimeSpan? deviceStall = copies.Count > 0 ? stall + Stopwatch.GetElapsedTime(started) : null;
            long bytes = await CheckpointWriter.PersistAsync(_store, manifest, arena, cancellationToken,
                shardBytes => _history.Stamp(manifest, reason, stall, deviceStall, Stopwatch.GetElapsedTime(started), shardBytes)).ConfigureAwait(false);
            _history.Committed(manifest);
            var persist = Stopwatch.GetElapsedTime(started);
            lock (_gate)
            {
                _stats = _stats with { Committed = _stats.Committed + 1, LastPersistDuration = persist, LastBytes = bytes };
                if (manifest.Step > _lastCommittedStep) _lastCommittedStep = manifest.Step;
            }
            Log.Committed(_logger, RunId, manifest.Step, bytes, stall.TotalMilliseconds, persist.TotalMilliseconds, _store.Description);
            _metrics.RecordCommitted(persist, bytes);
            _options.Policy.OnCheckpointCommitted(stall, persist, bytes);
            await ApplyRetentionAsync(manifest.Step).ConfigureAwait(false);
            return new CheckpointOutcome(new CheckpointResult(RunId, manifest.Step, bytes, stall, persist), null);
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
        {
            NoticeLog.Superseded(_logger, RunId, manifest.Step);
            return new CheckpointOutcome(null, ex);
        }
        catch (Exception ex)
        {
            lock (_gate) _stats = _stats with { Failed = _stats.Failed + 1, LastError = ex };
            _metrics.RecordFailed(ex);
            Log.PersistFailed(_logger, RunId, manifest.Step, ex);
            return new CheckpointOutcome(null, ex);
        }
    }

    /// <summary>Pinned staging for CUDA state; falls back to pageable buffers (and the .to(CPU) path) if pinning fails.</summary>
    private StagingArena AllocatePinnedArena(StagingLayout layout)
    {
        var allocated = new List<HostBuffer>();
        try
        {
            return new StagingArena(layout, length =>
            {
                var buffer = new PinnedHostBuffer(length);
                allocated.Add(buffer);
                return buffer;
            });
        }
        catch (InvalidOperationException ex)
        {
            foreach (var buffer in allocated) buffer.Dispose();
            Log.PinnedStagingUnavailable(_logger, ex.Message);
            return new StagingArena(layout, length => new HostBuffer(length));
        }
    }

    private async Task ApplyRetentionAsync(long committedStep)
    {
        try
        {
            long[] inFlight;
            lock (_gate) inFlight = _slots.Where(s => s.Persist is { IsCompleted: false } && s.Step != committedStep).Select(s => s.Step).ToArray();
            await CheckpointCatalog.ApplyRetentionAsync(_store, RunId, _options.KeepLast, _options.IncompleteUploadMaxAge, inFlight).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.RetentionFailed(_logger, RunId, ex);
        }
    }

    private void Reseed(long step)
    {
        if (!_cudaReseed) return;
        // SplitMix64 of (seed, step): decorrelated seeds for consecutive steps.
        ulong z = unchecked((ulong)_options.CudaSeed!.Value + 0x9E3779B97F4A7C15UL * (ulong)(step + 1));
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        torch.cuda.manual_seed_all((long)(z >> 1));
    }

    internal static string LibraryVersion { get; } =
        typeof(Checkpointer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0] ?? "0.0.0";

    internal static string TorchSharpVersion { get; } =
        typeof(torch).Assembly.GetName().Version?.ToString(3) ?? "unknown";

    private sealed class StagingSlot
    {
        public StagingArena? Arena;
        public Task<CheckpointOutcome>? Persist;
        public long Step = -1;
        public CancellationTokenSource? Cancel;
        public long PersistStarted;
    }

    private sealed record CheckpointOutcome(CheckpointResult? Result, Exception? Error);
}
