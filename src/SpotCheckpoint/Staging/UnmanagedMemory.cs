using System.Buffers;

namespace SpotCheckpoint.Staging;

/// <summary>Exposes native memory as <see cref="Memory{T}"/> for stream and store APIs.</summary>
internal static unsafe class UnmanagedMemory
{
    /// <summary>Wraps <paramref name="length"/> bytes at <paramref name="pointer"/>; the caller keeps the memory alive.</summary>
    public static Memory<byte> Wrap(byte* pointer, int length) => new Manager(pointer, length).Memory;

    private sealed class Manager(byte* pointer, int length) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => new(pointer, length);
        public override MemoryHandle Pin(int elementIndex = 0) => new(pointer + elementIndex);
        public override void Unpin() { }
        protected override void Dispose(bool disposing) { }
    }
}
