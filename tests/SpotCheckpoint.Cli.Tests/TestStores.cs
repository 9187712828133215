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

    /// <summary>How many incomplete uploads (temporary objects, unfinished multipart uploads) the store holds.</summary>
    public abstract int CountIncompleteUploads();

    public abstract void Dispose();
}

/// <summary>The store kinds the CLI tests run against.</summary>
internal static class TestStores
{
    /// <summary>
    /// Store kinds for single-store fixtures. The local store always; the emulated object stores (s3, gs, az) join
    /// here once their providers are in the solution, started by tests/emulators/start.sh.
    /// </summary>
    public static IEnumerable<string> Kinds()
    {
        yield return "local";
    }

    /// <summary>(source, destination) kinds for copy fixtures: every kind to itself, and across kinds.</summary>
    public static IEnumerable<object[]> Pairs()
    {
        var kinds = Kinds().ToList();
        foreach (var from in kinds)
        {
            foreach (var to in kinds) yield return [from, to];
        }
    }

    public static StoreUnderTest Create(string kind) => kind switch
    {
        "local" => new LocalStoreUnderTest(),
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
