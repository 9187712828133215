using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Stores;

/// <summary>
/// Opens the stores the verbs name, with messages meant for someone at a command line: an unknown scheme lists the
/// schemes the CLI supports (it references every provider), and a local folder that is not there is reported as
/// missing instead of being created by the local store.
/// </summary>
internal static class StoreOpener
{
    /// <summary>The URI schemes the CLI opens (besides plain paths).</summary>
    public static readonly string[] Schemes = ["file", "s3", "gs", "az", "https"];

    /// <summary>Opens a store that should already exist (a source to read, a run to verify or prune).</summary>
    /// <exception cref="DirectoryNotFoundException">A local folder that does not exist (exit code 1).</exception>
    public static ICheckpointStore OpenExisting(string location, string shownAs)
    {
        CheckScheme(location);
        if (LocalPath(location) is { } path && !Directory.Exists(path))
            throw new DirectoryNotFoundException($"'{shownAs}' does not exist.");
        return CheckpointStores.Open(location);
    }

    /// <summary>Opens a store that may be created (a copy's destination).</summary>
    public static ICheckpointStore Open(string location)
    {
        CheckScheme(location);
        return CheckpointStores.Open(location);
    }

    /// <summary>The folder a local location names, or null for an object store.</summary>
    public static string? LocalPath(string location)
    {
        if (!location.Contains("://", StringComparison.Ordinal)) return location;
        return Uri.TryCreate(location, UriKind.Absolute, out var uri) && uri.IsFile ? uri.LocalPath : null;
    }

    /// <summary>Throws <see cref="ArgumentException"/> (exit code 2) for a scheme the CLI does not support.</summary>
    public static void CheckScheme(string location)
    {
        int end = location.IndexOf("://", StringComparison.Ordinal);
        if (end <= 0) return;
        var scheme = location[..end];
        if (Schemes.Contains(scheme, StringComparer.OrdinalIgnoreCase)) return;
        throw new ArgumentException(
            $"'{scheme}://' is not a store spotckpt can open: use a local path, file://, s3://bucket/prefix, gs://bucket/prefix, " +
            "az://container/prefix or https://<account>.blob.core.windows.net/container/prefix.");
    }
}
