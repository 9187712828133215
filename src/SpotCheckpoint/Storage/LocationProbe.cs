namespace SpotCheckpoint.Storage;

/// <summary>
/// Checks at start that a run's location can be written: a small object is created and deleted under the run's
/// prefix (<see cref="ICheckpointStore.ProbeAsync"/>). A failure becomes <see cref="CheckpointLocationException"/>,
/// one line naming the location, the cause and what to fix.
/// </summary>
internal static class LocationProbe
{
    public static async Task ProbeAsync(ICheckpointStore store, string runId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(timeout);
        try
        {
            await store.ProbeAsync(runId + "/", bound.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CheckpointLocationException(store.Description,
                $"no answer within {timeout.TotalSeconds:0} s", "check the endpoint, the network and the credentials");
        }
        catch (CheckpointLocationException)
        {
            throw;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            var (cause, fix) = Explain(ex);
            throw new CheckpointLocationException(store.Description, cause, fix, ex);
        }
    }

    /// <summary>A cause and a fix a person can act on (the runtime's own text can mislead: "Could not find file" for a /proc path).</summary>
    internal static (string Cause, string Fix) Explain(Exception ex) => ex switch
    {
        UnauthorizedAccessException => ("permission denied", "make it writable for this user, or choose another location"),
        CheckpointConflictException => ("a probe object could not be created", "check that nothing else writes under the run's prefix"),
        DirectoryNotFoundException or FileNotFoundException => ("a directory could not be created there (a read-only or virtual file system such as /proc?)", "choose a directory on a writable file system"),
        IOException io when io.HResult == 30 || io.Message.Contains("Read-only", StringComparison.OrdinalIgnoreCase) => ("the file system is read-only", "choose a location on a writable file system"),
        IOException io => ($"it cannot be written ({io.Message.TrimEnd('.')})", "check the path, free space and permissions"),
        _ => (PersistMessage(ex), "check the location, the credentials and their permissions"),
    };

    private static string PersistMessage(Exception ex) => ex.Message.ReplaceLineEndings(" ").TrimEnd('.');
}
