using System.Globalization;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Stores;

/// <summary>Picks the committed checkpoints a verb works on: one step, the newest, or all.</summary>
internal static class CheckpointSelection
{
    /// <summary>
    /// The committed checkpoint of <paramref name="step"/>, or the newest when null. Throws
    /// <see cref="CheckpointException"/> (exit code 1) when there is none, listing the steps there are.
    /// </summary>
    public static async Task<CheckpointListing> OneAsync(ICheckpointStore store, RunLocation run, long? step, CancellationToken cancellationToken)
    {
        var all = await CheckpointCatalog.ListAsync(store, run.RunId, cancellationToken).ConfigureAwait(false);
        if (all.Count == 0) throw await NoCheckpointAsync(store, run, cancellationToken).ConfigureAwait(false);
        if (step is null) return all[0];
        foreach (var listing in all)
        {
            if (listing.Step == step) return listing;
        }
        throw new CheckpointException(string.Create(CultureInfo.InvariantCulture,
            $"Run '{run.RunId}' has no committed checkpoint at step {step} in {store.Description}; committed steps: {string.Join(", ", all.Select(l => l.Step))}."));
    }

    /// <summary>Every committed checkpoint, newest first. Throws like <see cref="OneAsync"/> when there is none.</summary>
    public static async Task<IReadOnlyList<CheckpointListing>> AllAsync(ICheckpointStore store, RunLocation run, CancellationToken cancellationToken)
    {
        var all = await CheckpointCatalog.ListAsync(store, run.RunId, cancellationToken).ConfigureAwait(false);
        if (all.Count == 0) throw await NoCheckpointAsync(store, run, cancellationToken).ConfigureAwait(false);
        return all;
    }

    /// <summary>
    /// Why a run has no checkpoint. A URI naming a store that holds runs (<c>./checkpoints</c> instead of
    /// <c>./checkpoints/demo</c>) reads as a run called "checkpoints": say to name one of its runs instead.
    /// </summary>
    private static async Task<Exception> NoCheckpointAsync(ICheckpointStore store, RunLocation run, CancellationToken cancellationToken)
    {
        var runs = new SortedSet<string>(StringComparer.Ordinal);
        var prefix = run.RunId + "/";
        await foreach (var obj in store.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            if (StoreScan.TryParseStepKey(obj.Key[prefix.Length..], out var inner, out _)) runs.Add(inner);
            if (runs.Count >= 3) break;
        }
        if (runs.Count > 0)
        {
            return new ArgumentException($"'{run}' is a store holding runs ({string.Join(", ", runs)}), not a run: name a run, e.g. {run}/{runs.Min}.");
        }
        return new CheckpointException($"Run '{run.RunId}' has no committed checkpoint in {store.Description}.");
    }
}
