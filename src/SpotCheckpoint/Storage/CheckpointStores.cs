using System.Collections.Concurrent;

namespace SpotCheckpoint.Storage;

/// <summary>
/// Turns a location into a store: a path or <c>file://</c> URI gives a <see cref="LocalFileStore"/>; other schemes
/// (<c>s3://</c>, <c>gs://</c>, <c>az://</c>, …) come from provider packages that call <see cref="Register"/>.
/// </summary>
public static class CheckpointStores
{
    private static readonly ConcurrentDictionary<string, Func<Uri, ICheckpointStore>> Factories = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Registers the factory for a URI scheme (replacing an earlier one).</summary>
    public static void Register(string scheme, Func<Uri, ICheckpointStore> factory)
    {
        ArgumentException.ThrowIfNullOrEmpty(scheme);
        ArgumentNullException.ThrowIfNull(factory);
        Factories[scheme] = factory;
    }

    /// <summary>Opens the store a location names. Throws <see cref="ArgumentException"/> for an unknown scheme.</summary>
    public static ICheckpointStore Open(string location)
    {
        ArgumentException.ThrowIfNullOrEmpty(location);
        if (location.Contains("://", StringComparison.Ordinal) && Uri.TryCreate(location, UriKind.Absolute, out var uri))
        {
            if (uri.IsFile) return new LocalFileStore(uri.LocalPath);
            if (Factories.TryGetValue(uri.Scheme, out var factory)) return factory(uri);
            throw new ArgumentException(
                $"No checkpoint store is registered for '{uri.Scheme}://'. Reference the provider package " +
                "(for example SpotCheckpoint.Storage.S3) and register it, or use a local path.", nameof(location));
        }
        return new LocalFileStore(location);
    }
}
