using SpotCheckpoint.Testing;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Tests;

/// <summary>
/// A store the CLI tests run against, named by the URI the verbs get. Every verb test is a fixture per store kind
/// (<see cref="TestStores.Kinds"/>), so a store joins every test by joining that list.
/// </summary>
internal abstract class StoreUnderTest : IDisposable
{
    /// <summary>The store's location: what a run URI starts with (<c>/tmp/x</c>, <c>s3://bucket/prefix</c>).</summary>
    public abstract string Root { get; }

    /// <summary>The URI of a run in this store.</summary>
    public string RunUri(string runId) => Root.TrimEnd('/') + "/" + runId;

    /// <summary>Opens the store (the caller disposes it).</summary>
    public ICheckpointStore Open() => CheckpointStores.Open(Root);

    /// <summary>
    /// Whether the store can list (and so clean up) incomplete uploads. Stores that cannot (GCS resumable sessions,
    /// s3rver, which does not implement ListMultipartUploads) report none and prune removes none.
    /// </summary>
    public virtual bool TracksIncompleteUploads => true;

    /// <summary>How many incomplete uploads (temporary objects, unfinished multipart uploads) the store holds.</summary>
    public abstract int CountIncompleteUploads();

    /// <summary>
    /// Leaves an upload of <paramref name="key"/> incomplete, as a writer that has not finished (or crashed) would;
    /// disposing the result ends the writer. The default writes through the store and keeps the writer open.
    /// </summary>
    public virtual async Task<IAsyncDisposable> StartIncompleteUploadAsync(string key)
    {
        await using var store = Open();
        var writer = await store.OpenWriteAsync(key);
        await writer.WriteAsync(new byte[64]);
        return writer;
    }

    public abstract void Dispose();
}

/// <summary>The store kinds the CLI tests run against.</summary>
internal static class TestStores
{
    /// <summary>
    /// Store kinds for single-store fixtures: the local store, and the emulated object stores (s3 on s3rver, gs on
    /// the Firebase Storage emulator, az on Azurite) that tests/emulators/start.sh starts. Without the emulators their
    /// fixtures fail under CI=true and are inconclusive otherwise (<see cref="EmulatorEndpoints.Require"/>).
    /// </summary>
    public static IEnumerable<string> Kinds() => ["local", .. EmulatedStores.Kinds];

    /// <summary>
    /// (source, destination) kinds for copy fixtures: every kind to itself, local to and from every object store,
    /// and a ring across the object stores (s3 to az, az to gs, gs to s3). All 16 pairs would add little but time.
    /// </summary>
    public static IEnumerable<object[]> Pairs()
    {
        foreach (var kind in Kinds()) yield return [kind, kind];
        foreach (var kind in EmulatedStores.Kinds)
        {
            yield return ["local", kind];
            yield return [kind, "local"];
        }
        yield return ["s3", "az"];
        yield return ["az", "gs"];
        yield return ["gs", "s3"];
    }

    public static StoreUnderTest Create(string kind) => kind switch
    {
        "local" => new LocalStoreUnderTest(),
        _ when EmulatedStores.Kinds.Contains(kind) => EmulatedStores.Create(kind),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown store kind."),
    };

    private sealed class LocalStoreUnderTest : StoreUnderTest
    {
        private readonly string _root = Path.Combine(Path.GetTempPath(), "spotckpt-cli-tests", Guid.NewGuid().ToString("N"));

        public LocalStoreUnderTest() => Directory.CreateDirectory(_root);

        public override string Root => _root;

        public override int CountIncompleteUploads() => Directory.EnumerateFiles(_root, "*.partial", SearchOption.AllDirectories).Count();

        public override void Dispose()
        {
            try { Directory.Delete(_root, recursive: true); }
            catch (IOException) { }
        }
    }
}
