using System.Globalization;
using System.Text.RegularExpressions;

namespace SpotCheckpoint.Storage;

/// <summary>
/// Builds and checks the keys of checkpoint objects: <c>&lt;run&gt;/step-&lt;8 digits&gt;/&lt;file&gt;</c>, and the
/// chunk packs of incremental checkpoints, <c>&lt;run&gt;/chunks/&lt;file&gt;</c> (outside every step folder, so that
/// removing a step's folder never removes chunks another checkpoint references).
/// </summary>
public static partial class StoreKeys
{
    /// <summary>The name of the manifest object, the commit point of a checkpoint.</summary>
    public const string ManifestFileName = "manifest.json";

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="runId"/> is 1–128 characters of
    /// letters, digits, '.', '_' and '-', not starting with '.'.</summary>
    public static string ValidateRunId(string runId)
    {
        ArgumentNullException.ThrowIfNull(runId);
        if (!RunIdPattern().IsMatch(runId))
        {
            throw new ArgumentException(
                $"Run id '{runId}' is not valid: use 1-128 letters, digits, '.', '_' or '-', not starting with '.'.",
                nameof(runId));
        }
        return runId;
    }

    /// <summary>The folder-like prefix of one checkpoint: <c>run/step-00000037/</c>.</summary>
    public static string StepPrefix(string runId, long step)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "Steps are never negative.");
        return $"{runId}/step-{step.ToString("D8", CultureInfo.InvariantCulture)}/";
    }

    /// <summary>The name of the run-level folder holding chunk packs.</summary>
    public const string ChunksFolderName = "chunks";

    /// <summary>The prefix of a run's chunk packs: <c>run/chunks/</c>.</summary>
    public static string ChunksPrefix(string runId) => $"{runId}/{ChunksFolderName}/";

    /// <summary>The key of a chunk pack: <c>run/chunks/&lt;file&gt;</c>.</summary>
    public static string PackKey(string runId, string file) => ChunksPrefix(runId) + file;

    /// <summary>The file name of a pack: <c>&lt;step, 8 digits&gt;-&lt;attempt&gt;-&lt;index, 5 digits&gt;.bin</c>.</summary>
    public static string PackFileName(long step, string attempt, int index)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "Steps are never negative.");
        return $"{step.ToString("D8", CultureInfo.InvariantCulture)}-{attempt}-{index.ToString("D5", CultureInfo.InvariantCulture)}.bin";
    }

    /// <summary>True when <paramref name="file"/> is a pack file name (see <see cref="PackFileName"/>); gives the step that wrote it.</summary>
    public static bool TryParsePackFileName(string file, out long step)
    {
        step = -1;
        if (!PackNamePattern().IsMatch(file)) return false;
        return long.TryParse(file.AsSpan(0, file.IndexOf('-', StringComparison.Ordinal)), NumberStyles.None, CultureInfo.InvariantCulture, out step);
    }

    /// <summary>The manifest key of one checkpoint.</summary>
    public static string ManifestKey(string runId, long step) => StepPrefix(runId, step) + ManifestFileName;

    /// <summary>Parses the step out of a manifest key of <paramref name="runId"/>; false for any other key.</summary>
    public static bool TryParseManifestKey(string runId, string key, out long step)
    {
        step = -1;
        var prefix = runId + "/step-";
        if (!key.StartsWith(prefix, StringComparison.Ordinal) || !key.EndsWith("/" + ManifestFileName, StringComparison.Ordinal))
            return false;
        var digits = key.AsSpan(prefix.Length, key.Length - prefix.Length - ManifestFileName.Length - 1);
        if (digits.Length < 8) return false;
        foreach (var c in digits) if (c is < '0' or > '9') return false;
        // Only the canonical spelling counts: ManifestKey(runId, step) must give this exact key back.
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out step)) return false;
        if (ManifestKey(runId, step) == key) return true;
        step = -1;
        return false;
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> for keys that could escape a store's root: empty segments, '.', '..',
    /// backslashes, a leading '/', drive letters, or control characters.
    /// </summary>
    public static string ValidateKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length == 0 || key.Length > 1024)
            throw new ArgumentException("Object keys must have 1-1024 characters.", nameof(key));
        foreach (var c in key)
        {
            if (c == '\\' || c == ':' || char.IsControl(c))
                throw new ArgumentException($"Object key '{key}' contains a forbidden character.", nameof(key));
        }
        foreach (var segment in key.Split('/'))
        {
            if (segment.Length == 0 || segment == "." || segment == "..")
                throw new ArgumentException($"Object key '{key}' has an empty, '.' or '..' segment.", nameof(key));
        }
        return key;
    }

    [GeneratedRegex("^[0-9]{8,19}-[0-9a-f]{8}-[0-9]{5}\\.bin\\z", RegexOptions.CultureInvariant)]
    private static partial Regex PackNamePattern();

    [GeneratedRegex("^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex RunIdPattern();
}
