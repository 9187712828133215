using System.Runtime.InteropServices;
using SpotCheckpoint.Staging;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Storage;

/// <summary>
/// The local store's O_DIRECT path (Linux) and its buffered fallback must produce the same objects: exact lengths,
/// unaligned headers before aligned tensor bytes, reads at unaligned offsets.
/// </summary>
[NonParallelizable] // toggles DirectFile.Enabled
public class DirectFileTests
{
    private TempDirectory _dir = null!;
    private bool _enabled;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDirectory();
        _enabled = DirectFile.Enabled;
    }

    [TearDown]
    public void TearDown()
    {
        DirectFile.Enabled = _enabled;
        _dir.Dispose();
    }

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A shard's shape: an odd-length header, then large pieces from page-aligned memory, then a short tail.</summary>
    private static async Task<byte[]> WriteShardLikeAsync(LocalFileStore store, string key, int headerLength = 4093, int bodyStart = 0)
    {
        var header = Bytes(headerLength, 1);
        var tail = Bytes(5, 3);
        const int body = 20 << 20;
        using var staging = new HostBuffer(bodyStart + body);
        Bytes(body, 2).CopyTo(staging.Span(bodyStart, body));
        await using (var writer = await store.OpenWriteAsync(key))
        {
            await writer.WriteAsync(header);
            for (int done = 0; done < body;)
            {
                int n = Math.Min(body - done, done == 0 ? 3 << 20 : 16 << 20);
                await writer.WriteAsync(staging.Memory(bodyStart + done, n));
                done += n;
            }
            await writer.WriteAsync(tail);
            await writer.CompleteAsync();
        }
        return [.. header, .. staging.Span(bodyStart, body).ToArray(), .. tail];
    }

    // (4093, 0): memory and file never congruent, all through the bounce buffers; (4096, 0) and (4196, 100):
    // congruent, so the middle is written straight from the staging memory (with a copied head in the second).
    [TestCase(true, 4093, 0)]
    [TestCase(true, 4096, 0)]
    [TestCase(true, 4196, 100)]
    [TestCase(false, 4093, 0)]
    public async Task Large_objects_round_trip_with_their_exact_length(bool direct, int headerLength, int bodyStart)
    {
        DirectFile.Enabled = direct && OperatingSystem.IsLinux();
        var store = new LocalFileStore(Path.Combine(_dir.Path, "s"));
        var expected = await WriteShardLikeAsync(store, "run/step-1/shard", headerLength, bodyStart);

        Assert.That(await store.GetLengthAsync("run/step-1/shard"), Is.EqualTo(expected.Length));
        Assert.That(File.ReadAllBytes(Path.Combine(store.Root, "run", "step-1", "shard")), Is.EqualTo(expected));
        // Unaligned large reads (a tensor after the header) and one that runs past the end.
        foreach (var (offset, length) in new[] { ((long)headerLength, 9 << 20), (12345L, 2 << 20), ((long)expected.Length - (1 << 20) - 7, (2 << 20)) })
        {
            var read = new byte[length];
            int n = await store.ReadAsync("run/step-1/shard", offset, read);
            int want = (int)Math.Min(length, expected.Length - offset);
            Assert.That(n, Is.EqualTo(want));
            Assert.That(read.AsSpan(0, n).SequenceEqual(expected.AsSpan((int)offset, want)), Is.True, $"bytes at {offset}");
        }
        Assert.That(Directory.GetFiles(store.Root, "*.partial", SearchOption.AllDirectories), Is.Empty);
    }

    [Test]
    public async Task An_abandoned_direct_write_leaves_nothing_behind()
    {
        var store = new LocalFileStore(Path.Combine(_dir.Path, "s"));
        await using (var writer = await store.OpenWriteAsync("run/x"))
            await writer.WriteAsync(Bytes(9 << 20, 4));
        Assert.That(Directory.GetFiles(store.Root, "*", SearchOption.AllDirectories), Is.Empty);
        Assert.That(await store.GetLengthAsync("run/x"), Is.Null);
    }

    [Test]
    public void Reading_a_missing_object_is_still_file_not_found()
    {
        var store = new LocalFileStore(Path.Combine(_dir.Path, "s"));
        Assert.ThrowsAsync<FileNotFoundException>(async () => await store.ReadAsync("run/missing", 0, new byte[2 << 20]));
    }

    [Test]
    public void Direct_io_is_used_on_linux_unless_turned_off()
    {
        // The reference file systems (ext4, xfs) take O_DIRECT; where a test machine's temp folder does not, say so.
        if (!OperatingSystem.IsLinux()) Assert.Ignore("O_DIRECT is a Linux path; other systems write buffered.");
        using var writer = DirectFile.TryCreate(Path.Combine(_dir.Path, "probe"));
        if (writer is null && Environment.GetEnvironmentVariable("CI") != "true")
            Assert.Inconclusive($"the temp folder's file system refuses O_DIRECT ({RuntimeInformation.OSDescription}); the buffered fallback is tested above");
        Assert.That(writer, Is.Not.Null);
        DirectFile.Enabled = false;
        Assert.That(DirectFile.TryCreate(Path.Combine(_dir.Path, "probe2")), Is.Null);
    }
}
