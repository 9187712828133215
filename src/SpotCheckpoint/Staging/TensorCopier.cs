using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Staging;

/// <summary>
/// Copies captured tensors into a staging arena. CPU tensors are copied straight from their storage, in parallel
/// 4 MiB chunks across all cores; tensors on other devices or not contiguous go through a temporary CPU copy.
/// </summary>
internal static unsafe class TensorCopier
{
    private const long ChunkBytes = 4L << 20;

    public static void CopyAll(IReadOnlyList<Tensor> tensors, StagingArena arena)
    {
        var layout = arena.Layout;
        var sources = new IntPtr[tensors.Count];
        var temporaries = new List<Tensor>();
        try
        {
            for (int i = 0; i < tensors.Count; i++)
            {
                var t = tensors[i];
                if (layout.Tensors[i].Bytes == 0) continue;
                if (t.device_type != DeviceType.CPU || !t.is_contiguous())
                {
                    var cpu = t.detach().to(CPU).contiguous();
                    temporaries.Add(cpu);
                    t = cpu;
                }
                sources[i] = TensorMemory.DataPointer(t);
            }

            var chunks = new List<(int Index, long Offset, long Length)>();
            for (int i = 0; i < tensors.Count; i++)
            {
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
        }
        finally
        {
            foreach (var t in temporaries) t.Dispose();
        }
    }
}
