using Microsoft.Win32.SafeHandles;

namespace SpotCheckpoint.Storage;

/// <summary>
/// Appends to a file opened with O_DIRECT. Data whose address is congruent with its file position modulo the block
/// size is written straight from the caller's memory (all of it but a head and a tail block); the rest is gathered in two aligned bounce buffers, one being written on a pool thread while
/// the caller fills (and hashes) the next, so hashing overlaps the disk. The last partial block is written padded and
/// the file truncated to its length before the fsync.
/// </summary>
internal sealed unsafe class DirectFileWriter : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly int _fd;
    private readonly BounceBuffer[] _bounce = [BounceBuffer.Rent(), BounceBuffer.Rent()];
    private int _current;
    private int _fill;
    private long _issued; // bytes handed to the file so far; always a multiple of the alignment
    private long _length; // bytes appended by the caller
    private bool _direct = true;
    private Task? _pending;

    public DirectFileWriter(SafeFileHandle handle)
    {
        _handle = handle;
        _fd = (int)handle.DangerousGetHandle();
    }

    /// <summary>Whether writes still bypass the page cache (false after the file system refused one).</summary>
    public bool IsDirect => _direct;

    /// <summary>
    /// Appends <paramref name="data"/>. Returns the write still reading the caller's memory (null when none is): the
    /// caller must not change that memory until it completes, and may hash it meanwhile.
    /// </summary>
    public Task? Write(ReadOnlySpan<byte> data, string path)
    {
        Task? reading = null;
        fixed (byte* start = data)
        {
            byte* p = start;
            long left = data.Length;
            while (left > 0)
            {
                long position = _issued + _fill; // the file position of the next byte
                if (left >= 2 * DirectFile.Alignment && ((position - (nint)p) & (DirectFile.Alignment - 1)) == 0)
                {
                    // Memory and file congruent modulo the block: copy the head up to a block boundary, write what the
                    // bounce holds (whole blocks), then write the aligned middle straight from the caller's memory.
                    int head = (int)((DirectFile.Alignment - (position & (DirectFile.Alignment - 1))) & (DirectFile.Alignment - 1));
                    Append(ref p, ref left, head);
                    if (_fill > 0) IssueBounce(_fill, path);
                    long n = left & ~(long)(DirectFile.Alignment - 1);
                    WaitPending();
                    long offset = _issued;
                    nint from = (nint)p;
                    reading = _pending = Task.Run(() => DirectFile.PWriteAll(_fd, (byte*)from, n, offset, ref _direct, path));
                    _issued += n;
                    _length += n;
                    p += n;
                    left -= n;
                    continue;
                }
                Append(ref p, ref left, (int)Math.Min(left, BounceBuffer.Bytes - _fill));
                if (_fill == BounceBuffer.Bytes) IssueBounce(_fill, path);
            }
        }
        return reading;
    }

    private void Append(ref byte* p, ref long left, int take)
    {
        Buffer.MemoryCopy(p, _bounce[_current].Pointer + _fill, take, take);
        _fill += take;
        _length += take;
        p += take;
        left -= take;
    }

    /// <summary>Writes what is left, sets the exact length and makes the file durable.</summary>
    public void Complete(string path)
    {
        if (_fill > 0)
        {
            int padded = (int)DirectFile.AlignUp(_fill);
            new Span<byte>(_bounce[_current].Pointer + _fill, padded - _fill).Clear();
            WaitPending();
            DirectFile.PWriteAll(_fd, _bounce[_current].Pointer, padded, _issued, ref _direct, path);
            _issued += padded;
            _fill = 0;
        }
        WaitPending();
        if (_issued != _length && DirectFile.FTruncate(_fd, _length) != 0) throw DirectFile.Error("truncate", path);
        if (DirectFile.FSync(_fd) != 0) throw DirectFile.Error("fsync", path);
    }

    /// <summary>Writes the current bounce buffer's <paramref name="count"/> bytes (whole blocks) on a pool thread and switches buffers.</summary>
    private void IssueBounce(int count, string path)
    {
        WaitPending();
        var buffer = _bounce[_current];
        long offset = _issued;
        _issued += count;
        _pending = Task.Run(() => DirectFile.PWriteAll(_fd, buffer.Pointer, count, offset, ref _direct, path));
        _current ^= 1;
        _fill = 0;
    }

    private void WaitPending()
    {
        var pending = _pending;
        _pending = null;
        pending?.GetAwaiter().GetResult();
    }

    public void Dispose()
    {
        try { _pending?.Wait(); } catch (AggregateException) { /* the write failed; the file is being discarded */ }
        _handle.Dispose();
        foreach (var b in _bounce) b.Dispose();
    }
}
