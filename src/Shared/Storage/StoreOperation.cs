namespace SpotCheckpoint.Storage;

/// <summary>
/// Runs one store call under a total time bound with up to <c>attempts</c> attempts (the first included) for
/// transient failures, with exponential back-off and jitter. It is the stores' only retry layer: the SDK clients'
/// own retries are off, so one MaxAttempts means the same on every store, and failures the SDK could not retry
/// (a response body cut short, a reset while a body streams) are covered too. Failures no retry can fix (access
/// denied, no credentials) fail at once with what to set. Exceptions leave as the library's types:
/// <see cref="FileNotFoundException"/> for a missing object, checkpoint exceptions as they are, everything else as
/// <see cref="CheckpointStoreException"/> naming the operation.
/// </summary>
internal sealed class StoreOperation(TimeSpan timeout, int attempts, Func<Exception, bool> isTransient, Func<Exception, string?>? unrecoverable = null)
{
    /// <summary>The attempts per call, the first included.</summary>
    public int Attempts => attempts;

    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(5);

    /// <summary>The bound on one call, retries included.</summary>
    public TimeSpan Timeout => timeout;

    /// <summary>Runs <paramref name="action"/> and maps its failures.</summary>
    public async Task<T> RunAsync<T>(string what, Func<CancellationToken, Task<T>> action, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var delay = FirstDelay;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await action(deadline.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is FileNotFoundException or CheckpointException) { throw; }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { throw; }
            catch (Exception ex) when (unrecoverable?.Invoke(ex) is { } advice)
            {
                throw new CheckpointStoreException($"{what} failed: {advice}.", ex);
            }
            catch (Exception ex) when (deadline.IsCancellationRequested)
            {
                throw new CheckpointStoreException($"{what} did not finish within {timeout.TotalSeconds:0.#} s (retries included).", ex);
            }
            catch (Exception ex) when (attempt < attempts && isTransient(ex))
            {
                try
                {
                    await Task.Delay(Jitter(delay), deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new CheckpointStoreException($"{what} did not finish within {timeout.TotalSeconds:0.#} s (retries included).", ex);
                }
                delay = TimeSpan.FromTicks(Math.Min(MaxDelay.Ticks, delay.Ticks * 2));
            }
            catch (Exception ex)
            {
                // SDK messages can quote a signed URL; never let its signature through.
                throw new CheckpointStoreException($"{what} failed: {LocationRedaction.Redact(ex.Message)}", ex);
            }
        }
    }

    /// <summary>Runs <paramref name="action"/> and maps its failures.</summary>
    public Task RunAsync(string what, Func<CancellationToken, Task> action, CancellationToken cancellationToken) =>
        RunAsync<bool>(what, async token =>
        {
            await action(token).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    private static TimeSpan Jitter(TimeSpan delay) => TimeSpan.FromTicks((long)(delay.Ticks * (0.5 + Random.Shared.NextDouble())));

    /// <summary>True for the network failures every provider treats as transient.</summary>
    public static bool IsNetworkFailure(Exception ex) => ex switch
    {
        IOException => true,
        HttpRequestException => true,
        TimeoutException => true,
        System.Net.Sockets.SocketException => true,
        OperationCanceledException => true, // a per-attempt timeout inside an SDK
        _ => ex.InnerException is not null && IsNetworkFailure(ex.InnerException),
    };
}
