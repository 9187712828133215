using System.Runtime.CompilerServices;
using Microsoft.Win32.SafeHandles;

namespace SpotCheckpoint.Storage;

/// <summary>
/// The embedded default store: checkpoints in a local (or mounted) directory. Each object is written to a
/// temporary <c>.partial</c> file, flushed to disk, then renamed into place, and the directory is flushed too,
/// so a crash leaves either the whole object or none. Exclusive creates use a hard link, which fails atomically
/// when the target exists.
/// </summary>
public sealed class LocalFileStore : ICheckpointStore
{
    internal const string PartialSuffix = ".partial";

    /// <summary>
    /// Creates a store rooted at <paramref name="rootDirectory"/> (created when missing). Throws
    /// <see cref="CheckpointLocationException"/> when it cannot be a directory (a file is there, or it lies on a
    /// virtual or read-only file system).
    /// </summary>
    public LocalFileStore(string rootDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(rootDirectory);
        Root = Path.GetFullPath(rootDirectory);
        if (File.Exists(Root))
            throw new CheckpointLocationException(Description, $"'{Root}' is a file, not a directory", "name a directory");
        try
        {
            Directory.CreateDirectory(Root);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var (cause, fix) = LocationProbe.Explain(ex);
            throw new CheckpointLocationException(Description, cause, fix, ex);
        }
    }

    /// <summary>The absolute root directory.</summary>
    public string Root { get; }

    /// <inheritdoc />
    public string Description => new Uri(Root.EndsWith(Path.DirectorySeparatorChar) ? Root : Root + Path.DirectorySeparatorChar).AbsoluteUri;

    /// <inheritdoc />
    public ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var path = PathOf(key);
        FileSystemSync.CreateDirectoryDurably(Path.GetDirectoryName(path)!, Root);
        var temp = TempPathFor(path);
        // Linux: O_DIRECT (no page-cache copy, about half the persist's CPU); elsewhere, or where refused, buffered.
        if (DirectFile.TryCreate(temp) is { } direct)
            return ValueTask.FromResult<CheckpointObjectWriter>(new DirectObjectWriter(direct, temp, path));
        var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
        return ValueTask.FromResult<CheckpointObjectWriter>(new LocalObjectWriter(stream, temp, path));
    }

    /// <inheritdoc />
    public async ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        var path = PathOf(key);
        FileSystemSync.CreateDirectoryDurably(Path.GetDirectoryName(path)!, Root);
        var temp = TempPathFor(path);
        try
        {
            await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            cancellationToken.ThrowIfCancellationRequested();
            if (!FileSystemSync.TryLinkExclusive(temp, path))
                throw new CheckpointConflictException(key);
            FileSystemSync.FlushDirectory(Path.GetDirectoryName(path)!);
        }
        finally
        {
            TryDelete(temp);
        }
    }

    /// <inheritdoc />
    public ValueTask<int> ReadAsync(string key, long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var path = PathOf(key);
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (DirectoryNotFoundException ex)
        {
            throw new FileNotFoundException($"Object '{key}' does not exist.", key, ex);
        }
        using var _ = handle;
        // Buffered on purpose: a direct read through a bounce buffer measured no cheaper than the kernel's read-ahead.
        int total = 0;
        while (total < destination.Length)
        {
            int read = RandomAccess.Read(handle, destination.Span[total..], offset + total);
            if (read == 0) break;
            total += read;
        }
        return ValueTask.FromResult(total);
    }

    /// <inheritdoc />
    public ValueTask<long?> GetLengthAsync(string key, CancellationToken cancellationToken = default)
    {
        var info = new FileInfo(PathOf(key));
        return ValueTask.FromResult(info.Exists ? info.Length : (long?)null);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<StoredObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        await Task.CompletedTask.ConfigureAwait(false);
        // Walk only the deepest directory the prefix names.
        var slash = prefix.LastIndexOf('/');
        var directory = slash < 0 ? Root : PathOf(prefix[..slash]);
        if (!Directory.Exists(directory)) yield break;
        foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (file.EndsWith(PartialSuffix, StringComparison.Ordinal)) continue;
            var key = Path.GetRelativePath(Root, file).Replace(Path.DirectorySeparatorChar, '/');
            if (!key.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var info = new FileInfo(file);
            if (!info.Exists) continue;
            yield return new StoredObject(key, info.Length, info.LastWriteTimeUtc);
        }
    }

    /// <inheritdoc />
    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        var path = PathOf(key);
        TryDelete(path);
        RemoveEmptyParents(Path.GetDirectoryName(path)!);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<int> CleanupIncompleteAsync(string prefix, TimeSpan olderThan, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var slash = prefix.LastIndexOf('/');
        var directory = slash < 0 ? Root : PathOf(prefix[..slash]);
        if (!Directory.Exists(directory)) return ValueTask.FromResult(0);
        int removed = 0;
        var cutoff = DateTime.UtcNow - olderThan;
        foreach (var file in Directory.EnumerateFiles(directory, "*" + PartialSuffix, SearchOption.AllDirectories))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (File.GetLastWriteTimeUtc(file) > cutoff) continue;
            if (TryDelete(file)) removed++;
            RemoveEmptyParents(Path.GetDirectoryName(file)!);
        }
        return ValueTask.FromResult(removed);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private string PathOf(string key)
    {
        StoreKeys.ValidateKey(key);
        if (key.EndsWith(PartialSuffix, StringComparison.Ordinal))
            throw new ArgumentException($"Object keys cannot end in '{PartialSuffix}', which marks incomplete writes.", nameof(key));
        var full = Path.GetFullPath(Path.Combine(Root, key.Replace('/', Path.DirectorySeparatorChar)));
        if (!full.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"Object key '{key}' resolves outside the store root.", nameof(key));
        return full;
    }

    private static string TempPathFor(string path) =>
        $"{path}.{Guid.NewGuid():N}{PartialSuffix}";

    private static bool TryDelete(string path)
    {
        try
        {
            if (!File.Exists(path)) return false;
            File.Delete(path);
            return true;
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    private void RemoveEmptyParents(string directory)
    {
        while (directory.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            try
            {
                if (Directory.EnumerateFileSystemEntries(directory).Any()) return;
                Directory.Delete(directory);
            }
            catch (IOException) { return; }
            catch (UnauthorizedAccessException) { return; }
            directory = Path.GetDirectoryName(directory)!;
        }
    }

    /// <summary>The commit every local write shares: bytes go to a temporary file, made durable, renamed into place.</summary>
    private abstract class TempFileObjectWriter(string tempPath, string finalPath) : CheckpointObjectWriter
    {
        private bool _completed;
        private bool _disposed;

        protected string TempPath => tempPath;

        protected abstract ValueTask Write(ReadOnlyMemory<byte> data);

        /// <summary>Makes every byte written durable (fsync) and closes the file.</summary>
        protected abstract void FlushAndClose();

        protected abstract void Close();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            cancellationToken.ThrowIfCancellationRequested();
            return Write(data);
        }

        public override ValueTask CompleteAsync(CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            cancellationToken.ThrowIfCancellationRequested();
            FlushAndClose();
            File.Move(tempPath, finalPath, overwrite: true);
            FileSystemSync.FlushDirectory(Path.GetDirectoryName(finalPath)!);
            _completed = true;
            return ValueTask.CompletedTask;
        }

        public override ValueTask DisposeAsync()
        {
            if (_disposed) return ValueTask.CompletedTask;
            _disposed = true;
            Close();
            if (!_completed) TryDelete(tempPath);
            return ValueTask.CompletedTask;
        }
    }

    private sealed class LocalObjectWriter(FileStream stream, string tempPath, string finalPath) : TempFileObjectWriter(tempPath, finalPath)
    {
        protected override ValueTask Write(ReadOnlyMemory<byte> data)
        {
            // Large sequential writes from a background thread: the synchronous call is the fastest path.
            stream.Write(data.Span);
            return ValueTask.CompletedTask;
        }

        protected override void FlushAndClose()
        {
            stream.Flush(flushToDisk: true);
            stream.Dispose();
        }

        protected override void Close() => stream.Dispose();
    }

    private sealed class DirectObjectWriter(DirectFileWriter file, string tempPath, string finalPath) : TempFileObjectWriter(tempPath, finalPath)
    {
        // A direct write from the caller's memory completes later: the caller may hash that memory meanwhile.
        protected override ValueTask Write(ReadOnlyMemory<byte> data) =>
            file.Write(data.Span, TempPath) is { } reading ? new ValueTask(reading) : ValueTask.CompletedTask;

        protected override void FlushAndClose()
        {
            file.Complete(TempPath);
            file.Dispose();
        }

        protected override void Close() => file.Dispose();
    }
}
