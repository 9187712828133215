using System.Diagnostics;
using SpotCheckpoint.Format;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Staging.Cuda;
using SpotCheckpoint.State;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Persist;

/// <summary>A snapshot staged in a slot: the manifest to commit, the buffers holding the bytes, and the device copies still landing.</summary>
internal sealed record StagedSnapshot(CheckpointManifest Manifest, StagingArena Arena, IReadOnlyList<CudaCopyHandle> Copies, TimeSpan Stall)
{
    /// <summary>Why it was taken (recorded in the run's history).</summary>
    public CheckpointReason Reason { get; init; } = CheckpointReason.Periodic;
}

/// <summary>
/// Copies the registered state into a reserved staging slot at a step boundary (the only time training waits). Its
/// invariant: when it returns, the slot's buffers hold one consistent step (device copies are enqueued against it),
/// and the manifest names exactly that step.
/// </summary>
internal sealed class SnapshotTaker(TrainingStateRegistry registry, StagingSlotPool pool, long maxShardBytes,
    CudaStagingMode cudaMode = CudaStagingMode.FenceDefaultStream)
{
    private CudaStagingCopierPool? _cudaCopiers;

    public StagedSnapshot Take(StagingSlot slot, string runId, long step, long epoch, DateTimeOffset now)
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
                var (tensors, m) = registry.Capture(owned);
                manifest = m;
                var layout = StagingLayout.Plan(
                    tensors.Select(t => (t.Name, TensorDtypes.NameOf(t.Tensor.dtype, t.Name), t.Tensor.shape, TensorMemory.ByteLength(t.Tensor))).ToList(),
                    maxShardBytes);
                // CUDA state is staged into pinned memory by a side-stream copier (training waits only for the enqueue).
                bool wantPinned = tensors.Any(t => t.Tensor.device_type == DeviceType.CUDA) && CudaRuntime.IsAvailable;
                arena = pool.ArenaFor(slot, layout, wantPinned);
                var cuda = arena.Buffers[0] is PinnedHostBuffer ? _cudaCopiers ??= new CudaStagingCopierPool(cudaMode) : null;
                // Only the optimizer-step fence needs to know which tensors forward changes (module buffers).
                var buffers = cuda?.Mode == CudaStagingMode.FenceOptimizerStep ? registry.BufferNames() : null;
                copies = TensorCopier.CopyAll(tensors.Select(t => t.Tensor).ToList(), arena, cuda,
                    buffers is null ? null : tensors.Select(t => buffers.Contains(t.Name)).ToList());
            }
            finally
            {
                foreach (var t in owned) t.Dispose();
            }
        }
        manifest.RunId = runId;
        manifest.Step = step;
        manifest.Epoch = epoch;
        manifest.CreatedUtc = now;
        manifest.Writer["spotcheckpoint"] = LibraryInfo.Version;
        manifest.Writer["torchsharp"] = LibraryInfo.TorchSharpVersion;
        return new StagedSnapshot(manifest, arena, copies, Stopwatch.GetElapsedTime(started));
    }

    /// <summary>With <see cref="CudaStagingMode.FenceOptimizerStep"/>: places the pending device fences before the optimizer step.</summary>
    public void BeforeOptimizerStep() => _cudaCopiers?.BeforeOptimizerStep();

    /// <summary>Waits for any copy still running into an arena; call before freeing staging memory.</summary>
    public void DisposeCopiers() => _cudaCopiers?.Dispose();
}
