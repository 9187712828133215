using System.Globalization;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Stores;

/// <summary>The objects of one step folder (<c>run/step-N/</c>), committed or not.</summary>
/// <param name="RunId">The run.</param>
/// <param name="Step">The step.</param>
/// <param name="Objects">Every object listed under the step's prefix.</param>
internal sealed record StepFolder(string RunId, long Step, IReadOnlyList<StoredObject> Objects)
{
    /// <summary>True when the manifest exists: the checkpoint is committed.</summary>
    public bool Committed => Objects.Any(o => o.Key == StoreKeys.ManifestKey(RunId, Step));

    /// <summary>The bytes of every object in the folder.</summary>
    public long Bytes => Objects.Sum(o => o.Length);

    /// <summary>When the manifest (or else the newest object) was written, when the store knows.</summary>
    public DateTimeOffset? LastModified =>
        Objects.FirstOrDefault(o => o.Key == StoreKeys.ManifestKey(RunId, Step)).LastModified ?? Objects.Max(o => o.LastModified);
}

/// <summary>Lists a store once and groups its objects into step folders.</summary>
internal static class StoreScan
{
    /// <summary>
    /// The step folders of <paramref name="runId"/>, or of every run in the store when it is null, ordered by run
    /// and newest step first. Objects outside canonical step folders are ignored.
    /// </summary>
    public static async Task<IReadOnlyList<StepFolder>> StepFoldersAsync(ICheckpointStore store, string? runId, CancellationToken cancellationToken)
    {
        var groups = new Dictionary<(string Run, long Step), List<StoredObject>>();
        await foreach (var obj in store.ListAsync(runId is null ? "" : runId + "/", cancellationToken).ConfigureAwait(false))
        {
            if (!TryParseStepKey(obj.Key, out var run, out var step)) continue;
            if (runId is not null && run != runId) continue;
            if (!groups.TryGetValue((run, step), out var list)) groups[(run, step)] = list = new List<StoredObject>();
            list.Add(obj);
        }
        return groups.Select(g => new StepFolder(g.Key.Run, g.Key.Step, g.Value))
            .OrderBy(f => f.RunId, StringComparer.Ordinal).ThenByDescending(f => f.Step).ToList();
    }

    /// <summary>Parses <c>run/step-NNNNNNNN/file</c> in its canonical spelling.</summary>
    public static bool TryParseStepKey(string key, out string runId, out long step)
    {
        runId = "";
        step = -1;
        int first = key.IndexOf('/', StringComparison.Ordinal);
        if (first <= 0) return false;
        int second = key.IndexOf('/', first + 1);
        if (second < 0 || second == key.Length - 1) return false;
        var folder = key.AsSpan(first + 1, second - first - 1);
        if (!folder.StartsWith("step-", StringComparison.Ordinal)) return false;
        if (!long.TryParse(folder[5..], NumberStyles.None, CultureInfo.InvariantCulture, out var parsed)) return false;
        var run = key[..first];
        try { StoreKeys.ValidateRunId(run); }
        catch (ArgumentException) { return false; }
        if (!key.StartsWith(StoreKeys.StepPrefix(run, parsed), StringComparison.Ordinal)) return false;
        runId = run;
        step = parsed;
        return true;
    }
}
