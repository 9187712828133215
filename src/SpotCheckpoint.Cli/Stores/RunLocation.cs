using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Stores;

/// <summary>
/// A run's location as the verbs take it: the store location followed by the run id, such as
/// <c>./checkpoints/demo</c>, <c>file:///data/ckpt/demo</c> or <c>s3://bucket/prefix/demo</c>.
/// </summary>
/// <param name="Store">The store location: a local path or a URI that <see cref="CheckpointStores.Open"/> takes.</param>
/// <param name="RunId">The run id, the last path segment.</param>
internal sealed record RunLocation(string Store, string RunId)
{
    /// <summary>Splits <paramref name="uri"/> at its last '/'. Throws <see cref="ArgumentException"/> when no valid run id ends it.</summary>
    public static RunLocation Parse(string uri, string argument = "URI")
    {
        if (!TryParse(uri, out var location, out var problem)) throw new ArgumentException($"{argument} '{uri}' {problem}", argument);
        return location!;
    }

    /// <summary>Like <see cref="Parse"/>, without throwing.</summary>
    public static bool TryParse(string uri, out RunLocation? location, out string problem)
    {
        location = null;
        problem = "";
        if (string.IsNullOrWhiteSpace(uri))
        {
            problem = "is empty.";
            return false;
        }
        var trimmed = uri.Length > 1 ? uri.TrimEnd('/') : uri;
        int schemeEnd = trimmed.IndexOf("://", StringComparison.Ordinal);
        string store, run;
        if (schemeEnd >= 0)
        {
            // "s3://bucket/run" is a run in the bucket's root; "s3://bucket" names no run.
            int slash = trimmed.LastIndexOf('/');
            if (slash <= schemeEnd + 2)
            {
                problem = "names no run: end it with the run id, for example s3://bucket/prefix/<run-id>.";
                return false;
            }
            store = trimmed[..slash];
            if (store.EndsWith("://", StringComparison.Ordinal)) store += "/"; // file:///run → the root directory
            run = trimmed[(slash + 1)..];
        }
        else
        {
            run = Path.GetFileName(trimmed);
            store = Path.GetDirectoryName(trimmed) is { Length: > 0 } directory ? directory : ".";
        }
        try
        {
            StoreKeys.ValidateRunId(run);
        }
        catch (ArgumentException)
        {
            problem = $"does not end with a run id ('{run}' is not one: use 1-128 letters, digits, '.', '_' or '-').";
            return false;
        }
        location = new RunLocation(store, run);
        return true;
    }

    /// <summary>The run's location as the user would write it.</summary>
    public override string ToString() => Store.Contains("://", StringComparison.Ordinal) || Store != "."
        ? $"{Store.TrimEnd('/')}/{RunId}"
        : RunId;
}
