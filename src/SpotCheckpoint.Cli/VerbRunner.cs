using SpotCheckpoint.Storage;
using System.CommandLine;

namespace SpotCheckpoint.Cli;

/// <summary>
/// Runs one verb's work and turns what it throws into the documented exit codes: 2 for usage errors
/// (<see cref="ArgumentException"/>), 3 for a corrupt checkpoint (<see cref="CheckpointCorruptException"/>, naming
/// the object), 130 when interrupted (Ctrl-C), 1 for anything else (store unreachable, access denied, missing
/// checkpoint). Messages go to stderr, one line each, with secrets (SAS signatures, keys) redacted.
/// </summary>
internal static class VerbRunner
{
    public static void SetAction(Command command, Func<ParseResult, TextWriter, TextWriter, CancellationToken, Task<int>> work)
    {
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            StoreRegistration.RegisterProviders();
            try
            {
                return await work(parse, output, error, cancellationToken).ConfigureAwait(false);
            }
            catch (ArgumentException ex)
            {
                await error.WriteLineAsync($"error: {LocationRedaction.Redact(FirstLine(ex))}").ConfigureAwait(false);
                return CliApp.UsageError;
            }
            catch (CheckpointCorruptException ex)
            {
                await error.WriteLineAsync($"corrupt: {LocationRedaction.Redact(ex.Message)}").ConfigureAwait(false);
                return CliApp.Corrupt;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await error.WriteLineAsync("interrupted").ConfigureAwait(false);
                return CliApp.Interrupted;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                await error.WriteLineAsync($"error: {LocationRedaction.Redact(ex.Message.Split('\n')[0].TrimEnd())}").ConfigureAwait(false);
                return CliApp.Failure;
            }
        });
    }

    private static string FirstLine(ArgumentException ex)
    {
        var message = ex.Message.Split('\n')[0].TrimEnd();
        int parameter = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        return parameter >= 0 ? message[..parameter] : message;
    }
}
