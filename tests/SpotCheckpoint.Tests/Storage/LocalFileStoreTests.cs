using System.Text;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Storage;

public class LocalFileStoreTests
{
    private TempDirectory _dir = null!;
    private string _root = null!;
    private LocalFileStore _store = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDirectory();
        _root = Path.Combine(_dir.Path, "store");
        _store = new LocalFileStore(_root);
    }

    [TearDown]
    public async Task TearDown()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private async Task PutAsync(string key, byte[] content)
    {
        await using var writer = await _store.OpenWriteAsync(key);
        // Write in uneven pieces, as a streaming producer would.
        for (int done = 0; done < content.Length;)
        {
            int n = Math.Min(content.Length - done, 1 + done % 977);
            await writer.WriteAsync(content.AsMemory(done, n));
            done += n;
        }
        await writer.CompleteAsync();
    }

    private async Task<byte[]> GetAsync(string key)
    {
        var length = await _store.GetLengthAsync(key);
        Assert.That(length, Is.Not.Null, $"{key} should exist");
        var buffer = new byte[length!.Value];
        Assert.That(await _store.ReadAsync(key, 0, buffer), Is.EqualTo(buffer.Length));
        return buffer;
    }

    private async Task<List<string>> ListKeysAsync(string prefix)
    {
        var keys = new List<string>();
        await foreach (var o in _store.ListAsync(prefix)) keys.Add(o.Key);
        return keys;
    }

    private IEnumerable<string> AllFiles(string directory) =>
        Directory.Exists(directory) ? Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories) : [];

    [Test]
    public async Task A_completed_write_makes_the_object_visible_with_its_exact_bytes()
    {
        var content = Bytes(100_003, seed: 1);
        await PutAsync("run/step-00000001/shard-00000.0123abcd.safetensors", content);

        Assert.That(await GetAsync("run/step-00000001/shard-00000.0123abcd.safetensors"), Is.EqualTo(content));
        Assert.That(await _store.GetLengthAsync("run/step-00000001/shard-00000.0123abcd.safetensors"), Is.EqualTo(content.Length));
        var listed = new List<StoredObject>();
        await foreach (var o in _store.ListAsync("run/")) listed.Add(o);
        Assert.That(listed.Select(o => (o.Key, o.Length)), Is.EqualTo(new[] { ("run/step-00000001/shard-00000.0123abcd.safetensors", 100_003L) }));
        Assert.That(listed[0].LastModified, Is.Not.Null);
        Assert.That(File.ReadAllBytes(Path.Combine(_root, "run", "step-00000001", "shard-00000.0123abcd.safetensors")), Is.EqualTo(content),
            "objects are plain files under the root, readable by other tools");
        Assert.That(AllFiles(_root).Where(f => f.EndsWith(".partial", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public async Task An_empty_object_can_be_written()
    {
        await PutAsync("run/empty", []);
        Assert.That(await _store.GetLengthAsync("run/empty"), Is.Zero);
        Assert.That(await ListKeysAsync("run/"), Is.EqualTo(new[] { "run/empty" }));
    }

    [Test]
    public async Task Nothing_is_visible_while_a_write_is_in_progress()
    {
        await using var writer = await _store.OpenWriteAsync("run/a");
        await writer.WriteAsync(Bytes(1000, 2));
        Assert.That(await _store.GetLengthAsync("run/a"), Is.Null);
        Assert.That(await ListKeysAsync("run/"), Is.Empty);
        await writer.CompleteAsync();
        Assert.That(await _store.GetLengthAsync("run/a"), Is.EqualTo(1000));
    }

    [Test]
    public async Task Disposing_a_writer_without_completing_leaves_nothing_behind()
    {
        await using (var writer = await _store.OpenWriteAsync("run/step-00000001/x"))
        {
            await writer.WriteAsync(Bytes(5000, 3));
        }

        Assert.That(await _store.GetLengthAsync("run/step-00000001/x"), Is.Null);
        Assert.That(await ListKeysAsync(""), Is.Empty);
        Assert.That(AllFiles(_root), Is.Empty, "no object and no .partial file may remain");
    }

    [Test]
    public async Task An_abandoned_write_does_not_disturb_the_existing_object()
    {
        var original = Bytes(300, 4);
        await PutAsync("run/a", original);
        await using (var writer = await _store.OpenWriteAsync("run/a"))
        {
            await writer.WriteAsync(Bytes(10, 5));
        }
        Assert.That(await GetAsync("run/a"), Is.EqualTo(original));
    }

    [Test]
    public async Task Completing_a_write_replaces_an_existing_object()
    {
        await PutAsync("run/a", Bytes(300, 4));
        var replacement = Bytes(17, 5);
        await PutAsync("run/a", replacement);
        Assert.That(await GetAsync("run/a"), Is.EqualTo(replacement));
    }

    [Test]
    public async Task A_writer_cannot_be_used_after_it_is_disposed()
    {
        var writer = await _store.OpenWriteAsync("run/a");
        await writer.DisposeAsync();
        Assert.That(async () => await writer.WriteAsync(new byte[1]), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(async () => await writer.CompleteAsync(), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(await _store.GetLengthAsync("run/a"), Is.Null);
    }

    [Test]
    public async Task CreateExclusive_writes_once_and_a_second_create_conflicts()
    {
        var first = Encoding.UTF8.GetBytes("first");
        await _store.CreateExclusiveAsync("run/step-00000001/manifest.json", first);

        var ex = Assert.ThrowsAsync<CheckpointConflictException>(async () =>
            await _store.CreateExclusiveAsync("run/step-00000001/manifest.json", Encoding.UTF8.GetBytes("second")));
        Assert.That(ex!.ObjectName, Is.EqualTo("run/step-00000001/manifest.json"));
        Assert.That(await GetAsync("run/step-00000001/manifest.json"), Is.EqualTo(first), "the first commit must survive");
        Assert.That(AllFiles(_root).Select(Path.GetFileName), Is.EqualTo(new[] { "manifest.json" }), "no temporary file may remain");
    }

    [Test]
    public async Task CreateExclusive_conflicts_with_an_object_written_by_a_stream()
    {
        await PutAsync("run/m", Bytes(10, 1));
        Assert.That(async () => await _store.CreateExclusiveAsync("run/m", new byte[] { 1 }), Throws.TypeOf<CheckpointConflictException>());
    }

    [Test]
    public async Task Concurrent_exclusive_creates_have_exactly_one_winner()
    {
        const int writers = 16;
        var results = await Task.WhenAll(Enumerable.Range(0, writers).Select(i => Task.Run(async () =>
        {
            try
            {
                await _store.CreateExclusiveAsync("run/step-00000009/manifest.json", Encoding.UTF8.GetBytes($"writer {i}"));
                return i;
            }
            catch (CheckpointConflictException)
            {
                return -1;
            }
        })));

        var winners = results.Where(r => r >= 0).ToList();
        Assert.That(winners, Has.Count.EqualTo(1));
        Assert.That(Encoding.UTF8.GetString(await GetAsync("run/step-00000009/manifest.json")), Is.EqualTo($"writer {winners[0]}"));
        Assert.That(AllFiles(_root), Has.Exactly(1).Items);
    }

    [Test]
    public async Task Reads_at_offsets_return_the_requested_range()
    {
        var content = Bytes(10_000, 6);
        await PutAsync("run/a", content);

        var buffer = new byte[100];
        Assert.That(await _store.ReadAsync("run/a", 250, buffer), Is.EqualTo(100));
        Assert.That(buffer, Is.EqualTo(content[250..350]));

        Assert.That(await _store.ReadAsync("run/a", 0, buffer.AsMemory(0, 1)), Is.EqualTo(1));
        Assert.That(buffer[0], Is.EqualTo(content[0]));

        var tail = new byte[100];
        Assert.That(await _store.ReadAsync("run/a", 9_950, tail), Is.EqualTo(50), "short count at the end of the object");
        Assert.That(tail[..50], Is.EqualTo(content[9_950..]));

        Assert.That(await _store.ReadAsync("run/a", 10_000, tail), Is.Zero);
        Assert.That(await _store.ReadAsync("run/a", 1_000_000, tail), Is.Zero);
        Assert.That(await _store.ReadAsync("run/a", 5, Memory<byte>.Empty), Is.Zero);
    }

    [Test]
    public async Task Reading_a_missing_object_in_an_existing_folder_throws_FileNotFound()
    {
        await PutAsync("run/present", Bytes(1, 1));
        Assert.That(async () => await _store.ReadAsync("run/missing", 0, new byte[4]), Throws.InstanceOf<FileNotFoundException>());
    }

    [Test]
    public void Reading_a_missing_object_in_a_missing_folder_throws_FileNotFound()
    {
        Assert.That(async () => await _store.ReadAsync("run/step-00000001/missing", 0, new byte[4]), Throws.InstanceOf<FileNotFoundException>());
    }

    [Test]
    public async Task Reading_at_a_negative_offset_is_refused()
    {
        await PutAsync("run/a", Bytes(10, 1));
        Assert.That(async () => await _store.ReadAsync("run/a", -1, new byte[4]), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public async Task GetLength_of_a_missing_object_is_null()
    {
        Assert.That(await _store.GetLengthAsync("run/missing"), Is.Null);
        Assert.That(await _store.GetLengthAsync("nothing/here/at/all"), Is.Null);
    }

    [Test]
    public async Task Listing_ignores_partial_files_and_honours_the_prefix()
    {
        await PutAsync("run/step-00000001/a", Bytes(1, 1));
        await PutAsync("run/step-00000001/b", Bytes(2, 1));
        await PutAsync("run/step-00000002/a", Bytes(3, 1));
        await PutAsync("run2/step-00000001/a", Bytes(4, 1));
        await PutAsync("runner/x", Bytes(5, 1));
        await PutAsync("top", Bytes(6, 1));
        await using var inProgress = await _store.OpenWriteAsync("run/step-00000003/a");
        await inProgress.WriteAsync(Bytes(7, 1));
        File.WriteAllBytes(Path.Combine(_root, "run", "step-00000001", "c.0123.partial"), [1, 2, 3]);
        Assert.That(AllFiles(_root).Count(f => f.EndsWith(".partial", StringComparison.Ordinal)), Is.EqualTo(2));

        Assert.That(await ListKeysAsync("run/"), Is.EquivalentTo(new[] { "run/step-00000001/a", "run/step-00000001/b", "run/step-00000002/a" }));
        Assert.That(await ListKeysAsync("run/step-00000001/"), Is.EquivalentTo(new[] { "run/step-00000001/a", "run/step-00000001/b" }));
        Assert.That(await ListKeysAsync("run/step-0000000"), Is.EquivalentTo(new[] { "run/step-00000001/a", "run/step-00000001/b", "run/step-00000002/a" }));
        Assert.That(await ListKeysAsync("run/step-00000003/"), Is.Empty);
        Assert.That(await ListKeysAsync("run"), Is.EquivalentTo(new[]
        {
            "run/step-00000001/a", "run/step-00000001/b", "run/step-00000002/a", "run2/step-00000001/a", "runner/x",
        }), "a prefix is a string prefix, as in object stores");
        Assert.That(await ListKeysAsync(""), Has.Count.EqualTo(6));
        Assert.That(await ListKeysAsync("nothing/"), Is.Empty);
        Assert.That(await ListKeysAsync("run/step-00000001/a"), Is.EqualTo(new[] { "run/step-00000001/a" }));
    }

    [Test]
    public async Task Listing_reports_sizes()
    {
        await PutAsync("run/a", Bytes(123, 1));
        await _store.CreateExclusiveAsync("run/b", Bytes(45, 1));
        var listed = new Dictionary<string, long>();
        await foreach (var o in _store.ListAsync("run/")) listed[o.Key] = o.Length;
        Assert.That(listed, Is.EquivalentTo(new Dictionary<string, long> { ["run/a"] = 123, ["run/b"] = 45 }));
    }

    [Test]
    public async Task Deleting_removes_the_object_and_folders_left_empty()
    {
        await PutAsync("run/step-00000001/a", Bytes(1, 1));
        await PutAsync("run/step-00000001/b", Bytes(1, 1));
        await PutAsync("run/step-00000002/a", Bytes(1, 1));

        await _store.DeleteAsync("run/step-00000001/a");
        Assert.That(await _store.GetLengthAsync("run/step-00000001/a"), Is.Null);
        Assert.That(Directory.Exists(Path.Combine(_root, "run", "step-00000001")), Is.True, "a folder with objects stays");

        await _store.DeleteAsync("run/step-00000001/b");
        Assert.That(Directory.Exists(Path.Combine(_root, "run", "step-00000001")), Is.False, "an emptied folder goes");
        Assert.That(Directory.Exists(Path.Combine(_root, "run")), Is.True, "its non-empty parent stays");

        await _store.DeleteAsync("run/step-00000002/a");
        Assert.That(Directory.Exists(Path.Combine(_root, "run")), Is.False);
        Assert.That(Directory.Exists(_root), Is.True, "the root itself is never removed");
        Assert.That(await ListKeysAsync(""), Is.Empty);
    }

    [Test]
    public async Task Deleting_a_missing_object_is_not_an_error()
    {
        Assert.That(async () => await _store.DeleteAsync("run/never/existed"), Throws.Nothing);
        await PutAsync("run/a", Bytes(1, 1));
        await _store.DeleteAsync("run/a");
        Assert.That(async () => await _store.DeleteAsync("run/a"), Throws.Nothing);
        Assert.That(Directory.Exists(_root), Is.True);
    }

    [Test]
    public async Task Cleanup_removes_only_partial_files_older_than_the_limit()
    {
        await PutAsync("run/step-00000001/done", Bytes(10, 1));
        File.SetLastWriteTimeUtc(Path.Combine(_root, "run", "step-00000001", "done"), DateTime.UtcNow.AddDays(-3));
        await using var oldWrite = await _store.OpenWriteAsync("run/step-00000002/old");
        await oldWrite.WriteAsync(Bytes(10, 2));
        await using var freshWrite = await _store.OpenWriteAsync("run/step-00000003/fresh");
        await freshWrite.WriteAsync(Bytes(10, 3));
        await using var otherRun = await _store.OpenWriteAsync("other/step-00000001/old");
        await otherRun.WriteAsync(Bytes(10, 4));

        var partials = AllFiles(_root).Where(f => f.EndsWith(".partial", StringComparison.Ordinal)).ToList();
        Assert.That(partials, Has.Count.EqualTo(3));
        var oldPartial = partials.Single(p => Path.GetFileName(p).StartsWith("old", StringComparison.Ordinal) && p.Contains("step-00000002", StringComparison.Ordinal));
        var otherPartial = partials.Single(p => p.Contains(Path.Combine("other", "step-00000001"), StringComparison.Ordinal));
        File.SetLastWriteTimeUtc(oldPartial, DateTime.UtcNow.AddHours(-2));
        File.SetLastWriteTimeUtc(otherPartial, DateTime.UtcNow.AddHours(-2));

        int removed = await _store.CleanupIncompleteAsync("run/", TimeSpan.FromHours(1));

        Assert.That(removed, Is.EqualTo(1));
        Assert.That(File.Exists(oldPartial), Is.False, "the old partial goes");
        Assert.That(Directory.Exists(Path.Combine(_root, "run", "step-00000002")), Is.False, "its emptied folder goes too");
        Assert.That(File.Exists(otherPartial), Is.True, "other prefixes are not touched");
        Assert.That(await GetAsync("run/step-00000001/done"), Has.Length.EqualTo(10), "completed objects are never removed, however old");

        // The fresh write is unaffected and still completes.
        await freshWrite.CompleteAsync();
        Assert.That(await GetAsync("run/step-00000003/fresh"), Is.EqualTo(Bytes(10, 3)));
    }

    [Test]
    public async Task Cleanup_of_a_missing_prefix_removes_nothing()
    {
        Assert.That(await _store.CleanupIncompleteAsync("nothing/", TimeSpan.Zero), Is.Zero);
    }

    private static readonly string[] BadKeys =
    [
        "../outside",
        "../outside/x",
        "..",
        ".",
        "a/../../outside",
        "a/../b",
        "a/./b",
        "/etc/passwd",
        "/tmp/x",
        "a\\b",
        "..\\outside",
        "a//b",
        "a/",
        "/a",
        "",
        "C:/x",
        "C:x",
        "a\nb",
        "a\0b",
        "a\tb",
    ];

    private static IEnumerable<TestCaseData> BadKeyCases() =>
        BadKeys.Select(k => new TestCaseData(k).SetArgDisplayNames(k.Replace("\0", "\\0", StringComparison.Ordinal)
            .Replace("\n", "\\n", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal)));

    [TestCaseSource(nameof(BadKeyCases))]
    public async Task Keys_that_could_escape_the_root_are_refused_everywhere(string key)
    {
        var outside = Path.Combine(_dir.Path, "outside");
        Directory.CreateDirectory(outside);
        var victim = Path.Combine(outside, "x");
        File.WriteAllBytes(victim, [42]);

        Assert.That(async () => await _store.OpenWriteAsync(key), Throws.InstanceOf<ArgumentException>(), "OpenWrite");
        Assert.That(async () => await _store.CreateExclusiveAsync(key, new byte[] { 1 }), Throws.InstanceOf<ArgumentException>(), "CreateExclusive");
        Assert.That(async () => await _store.ReadAsync(key, 0, new byte[1]), Throws.InstanceOf<ArgumentException>(), "Read");
        Assert.That(async () => await _store.GetLengthAsync(key), Throws.InstanceOf<ArgumentException>(), "GetLength");
        Assert.That(async () => await _store.DeleteAsync(key), Throws.InstanceOf<ArgumentException>(), "Delete");

        Assert.That(File.ReadAllBytes(victim), Is.EqualTo(new byte[] { 42 }), "a file outside the root was changed");
        Assert.That(Directory.EnumerateFileSystemEntries(_dir.Path).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "store", "outside" }), "something was created next to the root");
        Assert.That(Directory.EnumerateFileSystemEntries(outside).Select(Path.GetFileName), Is.EqualTo(new[] { "x" }));
        Assert.That(Directory.EnumerateFileSystemEntries(_root), Is.Empty, "nothing may be written for a refused key");
    }

    [TestCase("../")]
    [TestCase("../outside/")]
    [TestCase("a/../../")]
    [TestCase("/etc/")]
    [TestCase("a\\..\\..\\/")]
    public void Listing_prefixes_that_escape_the_root_are_refused(string prefix)
    {
        Directory.CreateDirectory(Path.Combine(_dir.Path, "outside"));
        File.WriteAllBytes(Path.Combine(_dir.Path, "outside", "secret"), [1]);
        Assert.That(async () => await ListKeysAsync(prefix), Throws.InstanceOf<ArgumentException>());
    }

    [TestCase("../")]
    [TestCase("../outside/")]
    [TestCase("a/../../outside/")]
    public async Task Cleanup_prefixes_that_escape_the_root_are_refused_and_delete_nothing_outside(string prefix)
    {
        var outside = Path.Combine(_dir.Path, "outside");
        Directory.CreateDirectory(outside);
        var victim = Path.Combine(outside, "someone-elses.partial");
        File.WriteAllBytes(victim, [1]);
        File.SetLastWriteTimeUtc(victim, DateTime.UtcNow.AddDays(-1));

        Assert.That(async () => await _store.CleanupIncompleteAsync(prefix, TimeSpan.Zero), Throws.InstanceOf<ArgumentException>());
        Assert.That(File.Exists(victim), Is.True, "a file outside the store root was deleted");
        await Task.CompletedTask;
    }

    [Test]
    public void Cleanup_with_an_absolute_prefix_deletes_nothing_outside_the_root()
    {
        var outside = Path.Combine(_dir.Path, "outside");
        Directory.CreateDirectory(outside);
        var victim = Path.Combine(outside, "someone-elses.partial");
        File.WriteAllBytes(victim, [1]);
        File.SetLastWriteTimeUtc(victim, DateTime.UtcNow.AddDays(-1));

        try
        {
            _store.CleanupIncompleteAsync(outside + "/", TimeSpan.Zero).AsTask().GetAwaiter().GetResult();
        }
        catch (ArgumentException)
        {
            // refusing the prefix is the right answer
        }
        Assert.That(File.Exists(victim), Is.True, "a file outside the store root was deleted");
    }

    [Test]
    public void The_root_is_created_and_made_absolute()
    {
        var nested = Path.Combine(_dir.Path, "a", "b", "c");
        var store = new LocalFileStore(nested);
        Assert.That(Directory.Exists(nested), Is.True);
        Assert.That(store.Root, Is.EqualTo(Path.GetFullPath(nested)));
        Assert.That(store.Description, Does.StartWith("file://"));
        Assert.That(() => new LocalFileStore(""), Throws.InstanceOf<ArgumentException>());
    }

    [Test]
    public async Task CheckpointStores_open_a_plain_path_as_a_local_store()
    {
        var path = Path.Combine(_dir.Path, "by-path");
        await using var store = CheckpointStores.Open(path);
        Assert.That(store, Is.TypeOf<LocalFileStore>());
        Assert.That(((LocalFileStore)store).Root, Is.EqualTo(Path.GetFullPath(path)));
        Assert.That(Directory.Exists(path), Is.True);
    }

    [Test]
    public async Task CheckpointStores_open_a_file_uri_as_a_local_store()
    {
        var path = Path.Combine(_dir.Path, "by uri with space");
        var uri = new Uri(path + Path.DirectorySeparatorChar).AbsoluteUri;
        Assert.That(uri, Does.StartWith("file://"));
        await using var store = CheckpointStores.Open(uri);
        Assert.That(store, Is.TypeOf<LocalFileStore>());
        Assert.That(((LocalFileStore)store).Root.TrimEnd(Path.DirectorySeparatorChar), Is.EqualTo(Path.GetFullPath(path)));

        // A store's description opens the same store again.
        await using var again = CheckpointStores.Open(store.Description);
        Assert.That(((LocalFileStore)again).Root.TrimEnd(Path.DirectorySeparatorChar), Is.EqualTo(Path.GetFullPath(path)));
    }

    [TestCase("nosuchscheme://bucket/prefix")]
    [TestCase("s3-unregistered-test://bucket/prefix")]
    public void CheckpointStores_refuse_an_unknown_scheme(string location)
    {
        var scheme = location[..location.IndexOf(':', StringComparison.Ordinal)];
        Assert.That(() => CheckpointStores.Open(location), Throws.InstanceOf<ArgumentException>().With.Message.Contain(scheme + "://"));
    }

    [Test]
    public void CheckpointStores_refuse_an_empty_location()
    {
        Assert.That(() => CheckpointStores.Open(""), Throws.InstanceOf<ArgumentException>());
    }

    [Test]
    public async Task CheckpointStores_use_a_registered_factory_for_its_scheme()
    {
        var scheme = "spotckpt-test-" + Guid.NewGuid().ToString("N")[..8];
        Uri? seen = null;
        CheckpointStores.Register(scheme, uri =>
        {
            seen = uri;
            return new LocalFileStore(Path.Combine(_dir.Path, "registered"));
        });
        await using var store = CheckpointStores.Open($"{scheme}://bucket/some/prefix");
        Assert.That(seen, Is.Not.Null);
        Assert.That(seen!.Host, Is.EqualTo("bucket"));
        Assert.That(seen.AbsolutePath, Is.EqualTo("/some/prefix"));
        Assert.That(((LocalFileStore)store).Root, Is.EqualTo(Path.Combine(_dir.Path, "registered")));
    }
}
