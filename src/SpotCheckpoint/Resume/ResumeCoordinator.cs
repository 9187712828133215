using Microsoft.Extensions.Logging;
using SpotCheckpoint.Diagnostics;
using SpotCheckpoint.Format;
using SpotCheckpoint.State;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Resume;

/// <summary>
/// Restores the newest usable checkpoint. Its rules: a transient store error is retried (bounded, with backoff)
/// before a checkpoint is given up; "corrupt" is only a checksum or structure failure; a restore that fails for any
/// other reason (a bug, out of memory, a device error) is raised as <see cref="CheckpointRestoreException"/> instead
/// of falling back, because the registered state may be half-written. Falling back after a corrupt or unreadable
/// checkpoint is sound: the older checkpoint's restore overwrites every registered tensor and value. Checkpoints
/// newer than the one resumed from form an abandoned timeline (<see cref="RunTimeline"/>).
/// </summary>
internal sealed class ResumeCoordinator(ICheckpointStore store, string runId, TrainingStateRegistry registry, RunTimeline timeline, ILogger logger)
{
    /// <summary>Attempts per checkpoint when the store fails transiently, and the first pause between them (then x4).</summary>
    internal const int ReadAttempts = 3;
    internal static TimeSpan ReadBackoff { get; set; } = TimeSpan.FromMilliseconds(200);

    public async Task<(ResumeResult Result, CheckpointManifest? Manifest)> ResumeAsync(long? step, CancellationToken cancellationToken)
    {
        var observed = new ObservedStore(store);
        var listings = await RetryAsync(() => CheckpointCatalog.ListAsync(store, runId, cancellationToken), cancellationToken).ConfigureAwait(false);
        if (step is long wanted)
        {
            listings = listings.Where(l => l.Step == wanted).ToList();
            if (listings.Count == 0) throw new CheckpointNotFoundException(runId, wanted);
        }
        if (listings.Count == 0)
        {
            Log.StartingFresh(logger, runId, store.Description);
            return (new ResumeResult(false, 0, 0, Array.Empty<CheckpointException>()), null);
        }

        var failures = new List<CheckpointException>();
        var corruptSteps = new List<long>();
        var damaged = new HashSet<(string Pack, string Chunk)>();
        foreach (var listing in listings)
        {
            var (failure, manifest) = await SharesDamageAsync(listing, damaged, cancellationToken).ConfigureAwait(false) is { } shared
                ? (shared, null)
                : await TryRestoreAsync(observed, listing, cancellationToken).ConfigureAwait(false);
            if (failure is CheckpointCorruptException { Chunk: { } chunk } damage) damaged.Add((damage.ObjectName, chunk));
            if (failure is null)
            {
                var abandoned = listings.Where(l => l.Step > listing.Step).Select(l => l.Step).Except(corruptSteps).ToList();
                timeline.Resumed(listing.Step, abandoned);
                timeline.ResumedManifest = manifest;
                Log.Resumed(logger, runId, listing.Step, store.Description);
                await RemoveCorruptAsync(corruptSteps, cancellationToken).ConfigureAwait(false);
                return (new ResumeResult(true, listing.Step, manifest!.Epoch, failures) { AbandonedSteps = abandoned }, manifest);
            }
            failures.Add(failure);
            if (failure is CheckpointCorruptException) corruptSteps.Add(listing.Step);
            Log.FallingBack(logger, runId, listing.Step, failure.Message);
            if (step is not null) break; // asked for this step: no fallback
        }
        // When no checkpoint fits the registered state at all, the model most likely changed: say so directly.
        if (failures.TrueForAll(f => f is CheckpointMismatchException)) throw failures[0];
        throw new NoUsableCheckpointException(runId, failures);
    }

    /// <summary>
    /// Incremental checkpoints: a checkpoint that references a chunk already found damaged (the same chunk in the same
    /// pack) is corrupt without reading it; null when it references none (or its manifest cannot tell: the restore decides).
    /// </summary>
    private async Task<CheckpointCorruptException?> SharesDamageAsync(CheckpointListing listing, HashSet<(string Pack, string Chunk)> damaged, CancellationToken cancellationToken)
    {
        if (damaged.Count == 0) return null;
        CheckpointReader reader;
        try { reader = await CheckpointReader.OpenAsync(store, runId, listing.Step, cancellationToken).ConfigureAwait(false); }
        catch (Exception ex) when (ex is not OperationCanceledException) { return null; }
        if (!reader.Manifest.IsChunked) return null;
        foreach (var tensor in reader.Manifest.Tensors)
        {
            foreach (var chunk in tensor.Chunks!)
            {
                var pack = reader.PackKey(chunk.Pack);
                if (damaged.Contains((pack, chunk.Xxh128)))
                    return new CheckpointCorruptException(pack, $"chunk {chunk.Xxh128} of tensor '{tensor.Name}' is damaged (found restoring a newer checkpoint that shares it)") { Chunk = chunk.Xxh128 };
            }
        }
        return null;
    }

    /// <summary>Null when restored; otherwise why this checkpoint is not usable. Throws when falling back would be unsafe.</summary>
    private async Task<(CheckpointException? Failure, CheckpointManifest? Manifest)> TryRestoreAsync(ObservedStore observed, CheckpointListing listing, CancellationToken cancellationToken)
    {
        var pause = ReadBackoff;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                var reader = await CheckpointReader.OpenAsync(observed, runId, listing.Step, cancellationToken).ConfigureAwait(false);
                await registry.RestoreAsync(reader, cancellationToken).ConfigureAwait(false);
                return (null, reader.Manifest);
            }
            catch (CheckpointMismatchException ex)
            {
                return (ex, null); // checked before any tensor changed: an older checkpoint may still fit
            }
            catch (CheckpointCorruptException ex)
            {
                return (ex, null);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex) when (observed.Threw(ex))
            {
                if (ex is FileNotFoundException or DirectoryNotFoundException)
                    return (new CheckpointCorruptException(listing.ManifestKey, "an object it names is missing: " + ex.Message, ex), null);
                if (attempt >= ReadAttempts)
                    return (new CheckpointStoreException($"Checkpoint at step {listing.Step} could not be read after {attempt} attempts: {ex.Message}", ex), null);
                Log.ReadRetried(logger, runId, listing.Step, attempt, ex.Message);
                await Task.Delay(pause, cancellationToken).ConfigureAwait(false);
                pause *= 4;
            }
            catch (Exception ex)
            {
                throw new CheckpointRestoreException(runId, listing.Step, ex);
            }
        }
    }

    private async Task<T> RetryAsync<T>(Func<Task<T>> action, CancellationToken cancellationToken)
    {
        var pause = ReadBackoff;
        for (int attempt = 1; ; attempt++)
        {
            try { return await action().ConfigureAwait(false); }
            catch (Exception ex) when (attempt < ReadAttempts && (ex is CheckpointStoreException || ex is not (OperationCanceledException or ArgumentException or CheckpointException)))
            {
                await Task.Delay(pause, cancellationToken).ConfigureAwait(false);
                pause *= 4;
            }
        }
    }

    /// <summary>
    /// Deletes checkpoints newer than the one resumed from that failed verification (a checksum or structure
    /// error, not a read error): the resumed run writes those steps again, and a stale manifest would block them.
    /// </summary>
    private async Task RemoveCorruptAsync(List<long> steps, CancellationToken cancellationToken)
    {
        foreach (var step in steps)
        {
            try
            {
                await CheckpointCatalog.DeleteCheckpointAsync(store, runId, step, cancellationToken).ConfigureAwait(false);
                Log.RemovedCorrupt(logger, runId, step);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.RetentionFailed(logger, runId, ex.Message);
            }
        }
    }
}
