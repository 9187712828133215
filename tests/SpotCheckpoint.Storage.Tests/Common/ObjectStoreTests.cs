using System.Security.Cryptography;
using SpotCheckpoint.Storage.Tests.Emulators;

namespace SpotCheckpoint.Storage.Tests.Common;

/// <summary>The store contract, on each emulator: streamed writes, ranged reads, listing, deletion, exclusive creates.</summary>
[TestFixture(Provider.S3)]
[TestFixture(Provider.Gcs)]
[TestFixture(Provider.AzureBlob)]
public sealed class ObjectStoreTests(Provider provider)
{
    private ICheckpointStore _store = null!;

    [SetUp]
    public void Open() => _store = TestStores.Create(provider, TestStores.UniquePrefix("contract"));

    [TearDown]
    public async Task Close() => await _store.DisposeAsync();

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private async Task WriteAsync(string key, byte[] data, int piece)
    {
        await using var writer = await _store.OpenWriteAsync(key);
        for (int i = 0; i < data.Length; i += piece) await writer.WriteAsync(data.AsMemory(i, Math.Min(piece, data.Length - i)));
        await writer.CompleteAsync();
    }

    [Test]
    public async Task A_streamed_multi_part_object_reads_back_bit_identical_at_any_offset()
    {
        // Several parts on S3 (5 MiB) and Azure (2 MiB), written in odd-sized pieces.
        var data = RandomBytes(13 * 1024 * 1024 + 12345, 1);
        await WriteAsync("run/step-00000001/a.bin", data, piece: 3 * 1024 * 1024 + 7);

        Assert.That(await _store.GetLengthAsync("run/step-00000001/a.bin"), Is.EqualTo(data.Length));
        var all = new byte[data.Length];
        Assert.That(await _store.ReadAsync("run/step-00000001/a.bin", 0, all), Is.EqualTo(data.Length));
        Assert.That(SHA256.HashData(all), Is.EqualTo(SHA256.HashData(data)));

        var slice = new byte[9 * 1024 * 1024];
        int read = await _store.ReadAsync("run/step-00000001/a.bin", 4_000_001, slice);
        Assert.That(read, Is.EqualTo(slice.Length));
        Assert.That(slice, Is.EqualTo(data.AsSpan(4_000_001, slice.Length).ToArray()));

        var tail = new byte[1000];
        Assert.That(await _store.ReadAsync("run/step-00000001/a.bin", data.Length - 10, tail), Is.EqualTo(10), "short only at the end");
        Assert.That(await _store.ReadAsync("run/step-00000001/a.bin", data.Length, tail), Is.Zero);
    }

    [Test]
    public async Task Small_and_empty_objects_round_trip()
    {
        await WriteAsync("run/small", RandomBytes(100, 2), piece: 100);
        await using (var writer = await _store.OpenWriteAsync("run/empty")) await writer.CompleteAsync();
        Assert.That(await _store.GetLengthAsync("run/small"), Is.EqualTo(100));
        Assert.That(await _store.GetLengthAsync("run/empty"), Is.Zero);
        var buffer = new byte[200];
        Assert.That(await _store.ReadAsync("run/small", 0, buffer), Is.EqualTo(100));
        Assert.That(buffer[..100], Is.EqualTo(RandomBytes(100, 2)));
    }

    [Test]
    public async Task Missing_objects_have_no_length_and_reading_them_throws_FileNotFound()
    {
        Assert.That(await _store.GetLengthAsync("run/nothing"), Is.Null);
        Assert.ThrowsAsync<FileNotFoundException>(async () => await _store.ReadAsync("run/nothing", 0, new byte[10]));
        Assert.DoesNotThrowAsync(async () => await _store.DeleteAsync("run/nothing"));
    }

    [Test]
    public async Task Listing_finds_exactly_the_committed_objects_under_a_prefix_and_deletion_removes_them()
    {
        await WriteAsync("run/step-00000001/x", RandomBytes(10, 3), 10);
        await WriteAsync("run/step-00000002/y", RandomBytes(20, 4), 20);
        await WriteAsync("other/z", RandomBytes(30, 5), 30);
        await using (var abandoned = await _store.OpenWriteAsync("run/step-00000003/never"))
            await abandoned.WriteAsync(RandomBytes(6 << 20, 6)); // disposed without completing

        var listed = new List<StoredObject>();
        await foreach (var o in _store.ListAsync("run/")) listed.Add(o);
        Assert.That(listed.Select(o => (o.Key, o.Length)), Is.EquivalentTo(new[] { ("run/step-00000001/x", 10L), ("run/step-00000002/y", 20L) }));
        Assert.That(listed.All(o => o.LastModified is not null));

        await _store.DeleteAsync("run/step-00000001/x");
        listed.Clear();
        await foreach (var o in _store.ListAsync("run/")) listed.Add(o);
        Assert.That(listed.Select(o => o.Key), Is.EqualTo(new[] { "run/step-00000002/y" }));
    }

    [Test]
    public async Task An_abandoned_writer_leaves_nothing_behind_not_even_an_incomplete_upload()
    {
        await using (var writer = await _store.OpenWriteAsync("run/step-00000001/abandoned"))
        {
            await writer.WriteAsync(RandomBytes(12 << 20, 7)); // parts already on their way
        }
        Assert.That(await _store.GetLengthAsync("run/step-00000001/abandoned"), Is.Null);
        if (provider == Provider.AzureBlob)
        {
            // Azure can drop staged blocks only by committing an (empty) blob under the key, which a crash could leave
            // there; the writer commits nothing, and retention's clean-up removes the invisible blocks.
            Assert.That(await _store.CleanupIncompleteAsync("run/", TimeSpan.Zero), Is.EqualTo(1), "the staged blocks, invisible until now");
            Assert.That(await _store.GetLengthAsync("run/step-00000001/abandoned"), Is.Null);
        }
        Assert.That(await _store.CleanupIncompleteAsync("run/", TimeSpan.Zero), Is.Zero, "nothing left behind");
    }

    [Test]
    public async Task An_exclusive_create_refuses_an_existing_object_and_keeps_the_first()
    {
        var first = "{\"writer\":1}"u8.ToArray();
        await _store.CreateExclusiveAsync("run/step-00000001/manifest.json", first);
        Assert.ThrowsAsync<CheckpointConflictException>(async () =>
            await _store.CreateExclusiveAsync("run/step-00000001/manifest.json", "{\"writer\":2}"u8.ToArray()));
        var stored = new byte[100];
        int read = await _store.ReadAsync("run/step-00000001/manifest.json", 0, stored);
        Assert.That(stored[..read], Is.EqualTo(first));
    }

    [Test]
    public void Keys_that_could_escape_the_prefix_are_refused()
    {
        Assert.ThrowsAsync<ArgumentException>(async () => await _store.OpenWriteAsync("../outside"));
        Assert.ThrowsAsync<ArgumentException>(async () => await _store.GetLengthAsync("/abs"));
    }
}
