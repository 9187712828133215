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
        if (all.Count == 0) throw new CheckpointException($"Run '{run.RunId}' has no committed checkpoint in {store.Description}.");
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
        if (all.Count == 0) throw new CheckpointException($"Run '{run.RunId}' has no committed checkpoint in {store.Description}.");
        return all;
    }
}
