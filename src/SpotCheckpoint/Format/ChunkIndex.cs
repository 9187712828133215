using System.Buffers.Binary;
using System.Globalization;

namespace SpotCheckpoint.Format;

/// <summary>A chunk's identity: its XXH3-128 and its length.</summary>
internal readonly record struct ChunkId(UInt128 Hash, long Bytes)
{
    /// <summary>The hash as the manifest spells it (32 lowercase hex digits, the canonical big-endian form).</summary>
    public string Hex => Hash.ToString("x32", CultureInfo.InvariantCulture);

    public static ChunkId From(ReadOnlySpan<byte> canonicalHash, long bytes) => new(BinaryPrimitives.ReadUInt128BigEndian(canonicalHash), bytes);

    public static ChunkId Parse(ChunkEntry entry) => new(UInt128.Parse(entry.Xxh128, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture), entry.Bytes);
}

/// <summary>Where a known chunk's bytes are.</summary>
internal readonly record struct ChunkLocation(PackEntry Pack, long Offset);

/// <summary>
/// The chunks a writer may reuse: those referenced by the run's manifests this process knows to be committed (the
/// one it resumed from, whose chunks the restore verified, and the ones it committed). Its rule: a pack is "in use"
/// while a known manifest references it or a persist in flight holds it (<see cref="PackLease"/>), and the collector
/// of this process deletes only packs not in use, deciding under the same lock the writer finds and pins chunks with.
/// </summary>
internal sealed class ChunkIndex
{
    private readonly object _gate = new();
    private readonly SortedDictionary<long, CheckpointManifest> _known = new();
    private readonly Dictionary<string, int> _pins = new(StringComparer.Ordinal);
    private readonly HashSet<string> _stale = new(StringComparer.Ordinal);
    private Dictionary<ChunkId, ChunkLocation> _chunks = new();
    private HashSet<string> _referenced = new(StringComparer.Ordinal);

    /// <summary>Records a committed (or restored) chunked manifest; version-1 manifests are ignored.</summary>
    public void Add(CheckpointManifest manifest)
    {
        if (!manifest.IsChunked) return;
        lock (_gate)
        {
            _known[manifest.Step] = manifest;
            Rebuild();
        }
    }

    /// <summary>The checkpoint at <paramref name="step"/> was deleted: its chunks are no longer offered (unless another known one shares them).</summary>
    public void Forget(long step)
    {
        lock (_gate)
        {
            if (_known.Remove(step)) Rebuild();
        }
    }

    /// <summary>A pack turned out missing or damaged: never offer its chunks again.</summary>
    public void ForgetPack(string file)
    {
        lock (_gate)
        {
            _stale.Add(file);
            Rebuild();
        }
    }

    /// <summary>Finds a reusable chunk and pins its pack to <paramref name="lease"/> in one step.</summary>
    public bool TryFind(ChunkId id, PackLease lease, out ChunkLocation location)
    {
        lock (_gate)
        {
            if (!_chunks.TryGetValue(id, out location)) return false;
            PinLocked(lease, location.Pack.File);
            return true;
        }
    }

    /// <summary>Starts a lease: the packs pinned to it stay in use until it is disposed.</summary>
    public PackLease Lease() => new(this);

    /// <summary>
    /// True when the collector may delete <paramref name="file"/>: no known manifest references it and no persist
    /// holds it. A false answer is final for this pass; a true one stays true (nothing can find the pack again).
    /// </summary>
    public bool MayDelete(string file)
    {
        lock (_gate) return !_referenced.Contains(file) && !_pins.ContainsKey(file);
    }

    internal void Pin(PackLease lease, string file)
    {
        lock (_gate) PinLocked(lease, file);
    }

    internal void Release(IEnumerable<string> files)
    {
        lock (_gate)
        {
            foreach (var file in files)
            {
                if (_pins.TryGetValue(file, out var n) && n > 1) _pins[file] = n - 1;
                else _pins.Remove(file);
            }
        }
    }

    private void PinLocked(PackLease lease, string file)
    {
        if (!lease.Files.Add(file)) return;
        _pins[file] = _pins.TryGetValue(file, out var n) ? n + 1 : 1;
    }

    private void Rebuild()
    {
        var chunks = new Dictionary<ChunkId, ChunkLocation>();
        var referenced = new HashSet<string>(StringComparer.Ordinal);
        // Newest first: a chunk is reused where the newest checkpoint holds it, so after a full checkpoint the later
        // ones share only its packs (and older packs become collectable).
        foreach (var manifest in _known.Values.Reverse())
        {
            var packs = manifest.Packs!;
            foreach (var p in packs) referenced.Add(p.File);
            foreach (var t in manifest.Tensors)
            {
                foreach (var c in t.Chunks!)
                {
                    var pack = packs[c.Pack];
                    if (_stale.Contains(pack.File)) continue;
                    chunks.TryAdd(ChunkId.Parse(c), new ChunkLocation(pack, c.Offset));
                }
            }
        }
        _chunks = chunks;
        _referenced = referenced;
    }
}

/// <summary>The packs one persist writes or reuses: in use (never collected by this process) until disposed.</summary>
internal sealed class PackLease(ChunkIndex index) : IDisposable
{
    private bool _disposed;

    public HashSet<string> Files { get; } = new(StringComparer.Ordinal);

    public void Pin(string file) => index.Pin(this, file);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        index.Release(Files);
    }
}
