using System.Diagnostics;
using Microsoft.Extensions.Logging;
using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Staging.Cuda;

namespace SpotCheckpoint.Staging;

/// <summary>Where a staging slot is in its cycle.</summary>
internal enum SlotState
{
    /// <summary>Holds no snapshot that is still needed.</summary>
    Free,

    /// <summary>Reserved by the training thread, which is copying the state into it.</summary>
    Capturing,

    /// <summary>Its snapshot is being written; the buffers must not change until the persist task ends.</summary>
    Persisting,
}

/// <summary>One set of staging buffers and the persist that reads it.</summary>
internal sealed class StagingSlot
{
    public SlotState State;
    public StagingArena? Arena;
    public long Step = -1;
    public Task<PersistOutcome>? Persist;
    public CancellationTokenSource? Cancel;
    public long PersistStarted;

    /// <summary>Set once its checkpoint is committed: the write is over although the persist task is still finishing.</summary>
    public bool Committed;

    /// <summary>True when the slot may be reserved: free, or its persist has finished.</summary>
    public bool IsFree => State == SlotState.Free || (State == SlotState.Persisting && Persist is { IsCompleted: true });

    public bool IsPersisting => State == SlotState.Persisting && Persist is { IsCompleted: false };

    /// <summary>Its step is still being written (not yet committed, not yet failed).</summary>
    public bool IsWriting => IsPersisting && !Committed;
}

/// <summary>The outcome of one persist: the committed checkpoint, or why it failed (or was superseded).</summary>
internal sealed record PersistOutcome(CheckpointResult? Result, Exception? Error);

/// <summary>
/// The staging slots. Owns their cycle Free → Capturing → Persisting → Free: a slot is reserved under the lock before
/// any byte is copied into it, so two snapshots can never share buffers, and a second capture started while one is
/// running (two threads calling Step) is refused. Remembers whether pinned memory could be had, so a failed pinned
/// allocation is not retried at every checkpoint.
/// </summary>
internal sealed class StagingSlotPool : IDisposable
{
    private readonly StagingSlot[] _slots;
    private readonly ILogger _logger;
    private readonly Func<long, HostBuffer> _allocatePinned;
    private volatile bool _pinnedUnavailable;

    public StagingSlotPool(int count, ILogger logger, Func<long, HostBuffer>? allocatePinned = null)
    {
        _slots = Enumerable.Range(0, count).Select(_ => new StagingSlot()).ToArray();
        _logger = logger;
        _allocatePinned = allocatePinned ?? (length => new PinnedHostBuffer(length));
    }

    /// <summary>Guards every slot field.</summary>
    public object Gate { get; } = new();

    /// <summary>True once pinned staging failed; later snapshots go straight to pageable memory.</summary>
    public bool PinnedUnavailable => _pinnedUnavailable;

    public long StagingBytes
    {
        get { lock (Gate) return _slots.Sum(s => s.Arena?.TotalBytes ?? 0); }
    }

    /// <summary>
    /// Reserves a free slot (Free → Capturing), waiting up to <paramref name="maxWait"/> (infinite allowed) for a
    /// persist to finish; null when none freed in time. Throws <see cref="InvalidOperationException"/> when another
    /// snapshot is being captured right now.
    /// </summary>
    public StagingSlot? Reserve(TimeSpan maxWait, CancellationToken cancellationToken)
    {
        // The bound is on real blocking of the training thread, so it is measured with the real clock.
        var waited = Stopwatch.StartNew();
        while (true)
        {
            Task[] busy;
            lock (Gate)
            {
                if (_slots.Any(s => s.State == SlotState.Capturing))
                {
                    throw new InvalidOperationException(
                        "Step or CheckpointAsync was called while another call is taking a snapshot (concurrent use from two threads). " +
                        "Call them from the training thread only.");
                }
                var free = _slots.FirstOrDefault(s => s.IsFree);
                if (free is not null)
                {
                    free.State = SlotState.Capturing;
                    return free;
                }
                busy = _slots.Select(s => (Task)s.Persist!).ToArray();
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

    /// <summary>Gives a reserved slot back after a failed capture (Capturing → Free).</summary>
    public void Release(StagingSlot slot)
    {
        lock (Gate)
        {
            slot.State = SlotState.Free;
            slot.Persist = null;
            slot.Step = -1;
        }
    }

    /// <summary>Capturing → Persisting: the snapshot in <paramref name="slot"/> is now read by <paramref name="persist"/>.</summary>
    public void StartPersisting(StagingSlot slot, long step, Task<PersistOutcome> persist, CancellationTokenSource cancel, long timestamp)
    {
        lock (Gate)
        {
            slot.Step = step;
            slot.Persist = persist;
            slot.Cancel?.Dispose(); // its previous persist has finished: the slot was free
            slot.Cancel = cancel;
            slot.PersistStarted = timestamp;
            slot.Committed = false;
            slot.State = SlotState.Persisting;
        }
    }

    /// <summary>The arena of a reserved slot for <paramref name="layout"/>, reallocated only when the layout or memory kind changed.</summary>
    public StagingArena ArenaFor(StagingSlot slot, StagingLayout layout, bool wantPinned)
    {
        bool pinned = wantPinned && !_pinnedUnavailable;
        if (slot.Arena is { } current && current.Layout.Signature == layout.Signature && (current.Buffers[0] is PinnedHostBuffer) == pinned)
            return current;
        slot.Arena?.Dispose();
        slot.Arena = null;
        slot.Arena = pinned ? AllocatePinned(layout) : new StagingArena(layout, length => new HostBuffer(length));
        Log.StagingAllocated(_logger, slot.Arena.TotalBytes, layout.ShardDataBytes.Length);
        return slot.Arena;
    }

    /// <summary>Pinned staging for CUDA state; falls back to pageable buffers once, and remembers that it did.</summary>
    private StagingArena AllocatePinned(StagingLayout layout)
    {
        var allocated = new List<HostBuffer>();
        try
        {
            return new StagingArena(layout, length =>
            {
                var buffer = _allocatePinned(length);
                allocated.Add(buffer);
                return buffer;
            });
        }
        catch (InvalidOperationException ex)
        {
            foreach (var buffer in allocated) buffer.Dispose();
            _pinnedUnavailable = true;
            Log.PinnedStagingUnavailable(_logger, ex.Message);
            return new StagingArena(layout, length => new HostBuffer(length));
        }
    }

    /// <summary>A persist of <paramref name="step"/> that is running or committed (not a failed one).</summary>
    public Task<PersistOutcome>? FindStep(long step)
    {
        lock (Gate)
        {
            Task<PersistOutcome>? found = null;
            foreach (var s in _slots)
            {
                if (s.State == SlotState.Persisting && s.Step == step && s.Persist is { } p &&
                    (!p.IsCompleted || p.Result.Result is not null)) found = p;
            }
            return found;
        }
    }

    /// <summary>The newest snapshot still being written, and whether any slot is free.</summary>
    public (StagingSlot? NewestInFlight, bool AnyFree) InFlightSummary()
    {
        lock (Gate)
        {
            StagingSlot? newest = null;
            foreach (var s in _slots.Where(s => s.IsPersisting))
                if (newest is null || s.Step > newest.Step) newest = s;
            return (newest, _slots.Any(s => s.IsFree));
        }
    }

    /// <summary>Steps whose snapshot is still being written.</summary>
    public long[] InFlightSteps()
    {
        lock (Gate) return _slots.Where(s => s.IsWriting).Select(s => s.Step).ToArray();
    }

    /// <summary>Records that the checkpoint of <paramref name="step"/> is committed (its write is no longer in flight).</summary>
    public void MarkCommitted(long step)
    {
        lock (Gate)
        {
            foreach (var s in _slots)
                if (s.State == SlotState.Persisting && s.Step == step) s.Committed = true;
        }
    }

    public Task[] PendingPersists()
    {
        lock (Gate) return _slots.Select(s => s.Persist).OfType<Task>().Where(t => !t.IsCompleted).ToArray();
    }

    public void CancelInFlight()
    {
        CancellationTokenSource[] running;
        lock (Gate) running = _slots.Where(s => s.IsPersisting && s.Cancel is not null).Select(s => s.Cancel!).ToArray();
        foreach (var cancel in running) cancel.Cancel();
    }

    /// <summary>Frees the staging memory of every slot whose persist has ended; a slot still read by a persist is left alone.</summary>
    public bool Dispose(bool force)
    {
        bool all = true;
        lock (Gate)
        {
            foreach (var slot in _slots)
            {
                if (slot.IsPersisting && !force) { all = false; continue; }
                slot.Arena?.Dispose();
                slot.Arena = null;
            }
        }
        return all;
    }

    public void Dispose() => Dispose(force: false);
}
