using SpotCheckpoint.Staging.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Staging;

/// <summary>
/// Copies captured tensors into a staging arena. CPU tensors are copied straight from their storage, in parallel
/// 4 MiB chunks across all cores. CUDA tensors whose shard buffer is pinned are copied by a
/// <see cref="CudaStagingCopier"/> on a side stream (enqueued first, so the DMA overlaps the CPU copies); the
/// returned handles complete when their bytes are in the arena. Tensors on other devices, or CUDA tensors without
/// a pinned buffer or copier pool, go through a temporary CPU copy.
/// </summary>
internal static unsafe class TensorCopier
{
    private const long ChunkBytes = 4L << 20;

    /// <summary>
    /// Stages <paramref name="tensors"/> into <paramref name="arena"/>. CPU bytes are in place on return; CUDA bytes
    /// once every returned handle has completed: wait on them before reading or reusing the arena.
    /// <paramref name="changesInForward"/>, parallel to <paramref name="tensors"/>, marks those the forward pass
    /// changes in place (module buffers), which <see cref="CudaStagingMode.FenceOptimizerStep"/> clones first.
    /// </summary>
    public static IReadOnlyList<CudaCopyHandle> CopyAll(IReadOnlyList<Tensor> tensors, StagingArena arena, CudaStagingCopierPool? cuda = null,
        IReadOnlyList<bool>? changesInForward = null)
    {
        var layout = arena.Layout;
        var sources = new IntPtr[tensors.Count];
        var temporaries = new List<Tensor>();
        var deviceCopies = new SortedDictionary<int, List<DeviceToHostCopy>>();
        var deviceTemporaries = new SortedDictionary<int, List<IDisposable>>();
        var handles = new List<CudaCopyHandle>();
        try
        {
            for (int i = 0; i < tensors.Count; i++)
            {
                var t = tensors[i];
                var staged = layout.Tensors[i];
                if (staged.Bytes == 0) continue;
                var buffer = arena.Buffers[staged.Shard];
                if (cuda is not null && t.device_type == DeviceType.CUDA && buffer is PinnedHostBuffer)
                {
                    if (!deviceCopies.TryGetValue(t.device_index, out var list))
                    {
                        deviceCopies[t.device_index] = list = new List<DeviceToHostCopy>();
                        deviceTemporaries[t.device_index] = new List<IDisposable>();
                    }
                    if (!t.is_contiguous())
                    {
                        // On the device, queued on the default stream; the copier keeps it alive until the copy has read
                        // it, so it must outlive the caller's dispose scope.
                        var dense = t.detach().contiguous().DetachFromDisposeScope();
                        deviceTemporaries[t.device_index].Add(dense);
                        t = dense;
                    }
                    list.Add(new DeviceToHostCopy(TensorMemory.DataPointer(t), staged.Bytes, (IntPtr)(buffer.Pointer + staged.DataOffset))
                    {
                        ChangesInForward = changesInForward?[i] == true,
                    });
                    continue; // sources[i] stays zero: no CPU copy
                }
                if (t.device_type != DeviceType.CPU || !t.is_contiguous())
                {
                    var cpu = t.detach().to(CPU).contiguous();
                    temporaries.Add(cpu);
                    t = cpu;
                }
                sources[i] = TensorMemory.DataPointer(t);
            }

            // Device-to-host copies first: training only waits for the enqueue, and the DMA overlaps the CPU copies.
            foreach (var (device, copies) in deviceCopies)
            {
                var copier = cuda!.For(device);
                var keepAlive = deviceTemporaries[device];
                deviceTemporaries.Remove(device); // owned by the copier from here (it disposes them once the copies are done)
                handles.Add(copier.Enqueue(copies, keepAlive));
            }

            var chunks = new List<(int Index, long Offset, long Length)>();
            for (int i = 0; i < tensors.Count; i++)
            {
                if (sources[i] == IntPtr.Zero) continue;
                long bytes = layout.Tensors[i].Bytes;
                for (long offset = 0; offset < bytes; offset += ChunkBytes)
                    chunks.Add((i, offset, Math.Min(ChunkBytes, bytes - offset)));
            }

            void CopyChunk(int c)
            {
                var (index, offset, length) = chunks[c];
                var staged = layout.Tensors[index];
                byte* dst = arena.Buffers[staged.Shard].Pointer + staged.DataOffset + offset;
                byte* src = (byte*)sources[index] + offset;
                Buffer.MemoryCopy(src, dst, length, length);
            }

            if (chunks.Count <= 1)
            {
                for (int c = 0; c < chunks.Count; c++) CopyChunk(c);
            }
            else
            {
                Parallel.For(0, chunks.Count, CopyChunk);
            }
            return handles;
        }
        catch
        {
            // Nothing may still be writing into the arena once the caller sees the failure.
            foreach (var h in handles)
            {
                try { h.Wait(); }
                catch (InvalidOperationException) { }
            }
            throw;
        }
        finally
        {
            foreach (var t in temporaries) t.Dispose();
            // Device temporaries never handed to a copier (a failure before the enqueue).
            foreach (var list in deviceTemporaries.Values) foreach (var t in list) t.Dispose();
        }
    }
}
