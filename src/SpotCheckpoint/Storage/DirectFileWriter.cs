using Microsoft.Win32.SafeHandles;

namespace SpotCheckpoint.Storage;

/// <summary>
/// Appends to a file opened with O_DIRECT. Data already aligned (address and file position) is written straight from
/// the caller's memory; the rest is gathered in two aligned bounce buffers, one being written on a pool thread while
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

    public void Write(ReadOnlySpan<byte> data, string path)
    {
        fixed (byte* start = data)
        {
            byte* p = start;
            long left = data.Length;
            while (left > 0)
            {
                if (_fill == 0 && left >= DirectFile.Alignment && ((nint)p & (DirectFile.Alignment - 1)) == 0)
                {
                    // Aligned on both sides: no copy. Synchronous, because the caller may reuse its memory on return.
                    long n = left & ~(long)(DirectFile.Alignment - 1);
                    WaitPending();
                    DirectFile.PWriteAll(_fd, p, n, _issued, ref _direct, path);
                    _issued += n;
                    _length += n;
                    p += n;
                    left -= n;
                    continue;
                }
                int take = (int)Math.Min(left, BounceBuffer.Bytes - _fill);
                Buffer.MemoryCopy(p, _bounce[_current].Pointer + _fill, take, take);
                _fill += take;
                _length += take;
                p += take;
                left -= take;
                if (_fill == BounceBuffer.Bytes) IssueBounce(path);
            }
        }
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

    private void IssueBounce(string path)
    {
        WaitPending();
        var buffer = _bounce[_current];
        long offset = _issued;
        _issued += BounceBuffer.Bytes;
        _pending = Task.Run(() => DirectFile.PWriteAll(_fd, buffer.Pointer, BounceBuffer.Bytes, offset, ref _direct, path));
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
