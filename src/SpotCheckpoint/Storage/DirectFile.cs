using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SpotCheckpoint.Storage;

/// <summary>
/// Linux O_DIRECT writes of large objects: bytes go between user memory and the disk without the kernel's copy into
/// (and bookkeeping of) the page cache, which was 45–65 % of a persist's CPU time on the 2-core reference machine.
/// Unaligned data goes through aligned bounce buffers, and a file system that refuses O_DIRECT (EINVAL at open or at
/// the first write) falls back to ordinary buffered I/O. Reads stay buffered: a direct read through a bounce buffer
/// measured no cheaper than the kernel's read-ahead.
/// </summary>
internal static unsafe partial class DirectFile
{
    /// <summary>The alignment O_DIRECT needs of addresses, offsets and lengths (the largest logical block size in use).</summary>
    public const int Alignment = 4096;

    private const int O_WRONLY = 0x1, O_CREAT = 0x40, O_EXCL = 0x80, O_DIRECT = 0x4000, O_CLOEXEC = 0x80000;
    private const int F_GETFL = 3, F_SETFL = 4;
    private const int EINTR = 4, EINVAL = 22;

    /// <summary>False turns direct I/O off (tests of the buffered fallback; the environment variable SPOTCKPT_DIRECT_IO=0).</summary>
    internal static bool Enabled { get; set; } = OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64
        && Environment.GetEnvironmentVariable("SPOTCKPT_DIRECT_IO") != "0";

    /// <summary>Creates <paramref name="path"/> (it must not exist) for direct writes; null where direct I/O is unavailable.</summary>
    public static DirectFileWriter? TryCreate(string path)
    {
        if (!Enabled) return null;
        int fd = Open(path, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, 0x1B6 /* 0666, less the umask */);
        if (fd < 0) return null; // the buffered path reports the error (or succeeds where O_DIRECT is refused)
        return new DirectFileWriter(new SafeFileHandle(fd, ownsHandle: true));
    }

    internal static long AlignUp(long n) => (n + Alignment - 1) & ~(long)(Alignment - 1);

    internal static IOException Error(string call, string path)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new IOException($"Could not {call} '{path}' (errno {errno}: {Marshal.GetPInvokeErrorMessage(errno)}).");
    }

    /// <summary>Writes all of <paramref name="count"/> bytes; on EINVAL from a direct write turns O_DIRECT off once and retries buffered.</summary>
    internal static void PWriteAll(int fd, byte* buffer, long count, long offset, ref bool direct, string path)
    {
        long done = 0;
        while (done < count)
        {
            nint n = PWrite64(fd, buffer + done, (nuint)Math.Min(count - done, 1L << 30), offset + done);
            if (n >= 0) { done += n; continue; }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR) continue;
            if (errno == EINVAL && direct)
            {
                // The file system opened the file with O_DIRECT but refuses this write: continue through the page cache.
                int flags = Fcntl(fd, F_GETFL, 0);
                if (flags < 0 || Fcntl(fd, F_SETFL, flags & ~O_DIRECT) < 0) throw Error("write", path);
                direct = false;
                continue;
            }
            throw Error("write", path);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "pwrite64", SetLastError = true)]
    private static partial nint PWrite64(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    internal static partial int FTruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    internal static partial int FSync(int fd);
}

/// <summary>An aligned, pre-touched 8 MiB buffer, pooled so that a persist does not fault in fresh pages each time.</summary>
internal sealed unsafe class BounceBuffer : IDisposable
{
    public const int Bytes = 8 << 20;
    private const int PoolLimit = 8;
    private static readonly System.Collections.Concurrent.ConcurrentBag<IntPtr> Pool = new();

    private BounceBuffer(byte* pointer) => Pointer = pointer;

    public byte* Pointer { get; private set; }

    public static BounceBuffer Rent()
    {
        if (Pool.TryTake(out var pooled)) return new BounceBuffer((byte*)pooled);
        var p = (byte*)NativeMemory.AlignedAlloc(Bytes, DirectFile.Alignment);
        new Span<byte>(p, Bytes).Clear(); // touch every page now, not inside the first write
        return new BounceBuffer(p);
    }

    public void Dispose()
    {
        if (Pointer == null) return;
        if (Pool.Count < PoolLimit) Pool.Add((IntPtr)Pointer);
        else NativeMemory.AlignedFree(Pointer);
        Pointer = null;
    }
}
