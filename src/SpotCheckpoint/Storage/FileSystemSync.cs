using System.Runtime.InteropServices;

namespace SpotCheckpoint.Storage;

/// <summary>The POSIX calls .NET does not expose: directory fsync and an exclusive hard link.</summary>
internal static partial class FileSystemSync
{
    private const int EEXIST = 17;

    /// <summary>Flushes a directory's entries (renames, new files) to disk. A no-op on Windows.</summary>
    public static void FlushDirectory(string directory)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = Open(directory, 0 /* O_RDONLY */);
        if (fd < 0) return; // best effort: the data files themselves were flushed already
        try { _ = Fsync(fd); }
        finally { _ = Close(fd); }
    }

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
