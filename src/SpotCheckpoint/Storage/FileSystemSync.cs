using System.Runtime.InteropServices;

namespace SpotCheckpoint.Storage;

/// <summary>The POSIX calls .NET does not expose: directory fsync and an exclusive hard link.</summary>
internal static partial class FileSystemSync
{
    private const int EEXIST = 17;
    private const int EINVAL = 22;

    /// <summary>Test seam: sees every directory flushed.</summary>
    internal static Action<string>? Flushed { get; set; }

    /// <summary>
    /// Flushes a directory's entries (renames, new files, new sub-directories) to disk; a no-op on Windows. A failure
    /// is an <see cref="IOException"/>: without it a committed checkpoint could vanish in a power cut. EINVAL (a file
    /// system that cannot sync directories at all) is the one error accepted.
    /// </summary>
    public static void FlushDirectory(string directory)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = Open(directory, 0 /* O_RDONLY */);
        if (fd < 0) throw Error("open", directory, Marshal.GetLastPInvokeError());
        try
        {
            if (Fsync(fd) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno != EINVAL) throw Error("fsync", directory, errno);
            }
        }
        finally { _ = Close(fd); }
        Flushed?.Invoke(directory);
    }

    /// <summary>
    /// Creates <paramref name="directory"/> and any missing parents, flushing the parent of each new one so that the
    /// new entry survives a power cut (a new step-N folder would otherwise be lost with everything in it).
    /// </summary>
    public static void CreateDirectoryDurably(string directory, string root)
    {
        if (Directory.Exists(directory)) return;
        var missing = new Stack<string>();
        for (var d = directory; d is not null && !Directory.Exists(d) && d.Length >= root.Length; d = Path.GetDirectoryName(d))
            missing.Push(d);
        Directory.CreateDirectory(directory);
        foreach (var created in missing) FlushDirectory(Path.GetDirectoryName(created)!);
    }

    private static IOException Error(string call, string directory, int errno) =>
        new($"Could not {call} directory '{directory}' to make its entries durable (errno {errno}: {Marshal.GetPInvokeErrorMessage(errno)}).");

    /// <summary>
    /// Atomically creates <paramref name="target"/> as a new name of <paramref name="source"/>; false when
    /// <paramref name="target"/> exists already.
    /// </summary>
    public static bool TryLinkExclusive(string source, string target)
    {
        if (OperatingSystem.IsWindows())
        {
            try { File.Move(source, target, overwrite: false); return true; }
            catch (IOException) when (File.Exists(target)) { return false; }
        }
        if (Link(source, target) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == EEXIST) return false;
        // File systems without hard links: fall back to a checked rename.
        if (File.Exists(target)) return false;
        File.Move(source, target, overwrite: false);
        return true;
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string oldPath, string newPath);
}
