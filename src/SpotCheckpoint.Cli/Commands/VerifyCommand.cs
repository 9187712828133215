using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SpotCheckpoint.Cli.Stores;
using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Commands;

/// <summary>
/// <c>spotckpt verify URI [--step N | --all]</c>: reads every byte of a checkpoint and checks every checksum (the
/// manifest's SHA-256, shard sizes and header checksums, each tensor's XXH3). Exit code 0 when everything verified,
/// 3 when a checkpoint is corrupt (the broken object is named), 1 for any other error.
/// </summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        var uri = new Argument<string>("URI") { Description = "The run, such as ./checkpoints/demo or s3://bucket/prefix/demo" };
        var step = new Option<long?>("--step") { Description = "The step to verify (default: the newest committed checkpoint)" };
        var all = new Option<bool>("--all") { Description = "Verify every committed checkpoint of the run" };
        var json = new Option<bool>("--json") { Description = "Write JSON for scripts" };
        var command = new Command("verify", "Verify checkpoints byte for byte against their checksums. Exit code 0 verified, 3 corrupt, 1 other error.") { uri, step, all, json };
        VerbRunner.SetAction(command, async (parse, output, error, cancellationToken) =>
        {
            if (parse.GetValue(step) is not null && parse.GetValue(all)) throw new ArgumentException("--step and --all cannot be used together.");
            var run = RunLocation.Parse(parse.GetValue(uri)!);
            bool quiet = parse.GetValue(json);
            await using var store = StoreOpener.OpenExisting(run.Store, run.ToString());
            var listings = parse.GetValue(all)
                ? await CheckpointSelection.AllAsync(store, run, cancellationToken).ConfigureAwait(false)
                : [await CheckpointSelection.OneAsync(store, run, parse.GetValue(step), cancellationToken).ConfigureAwait(false)];
            long total = 0;
            foreach (var listing in listings) total += await SizeAsync(store, run.RunId, listing.Step, cancellationToken).ConfigureAwait(false);

            var results = await CliConsole.WithProgressAsync(output, quiet, $"verifying {run}", total, async progress =>
            {
                var observed = new ObservedStore(store) { BytesRead = progress };
                var entries = new List<VerifyEntry>();
                foreach (var listing in listings.OrderBy(l => l.Step)) entries.Add(await VerifyOneAsync(observed, run.RunId, listing.Step, cancellationToken).ConfigureAwait(false));
                return entries;
            }).ConfigureAwait(false);

            var report = new VerifyReport(store.Description + run.RunId, run.RunId, results, results.Count(r => r.Status == "verified"), results.Count(r => r.Status == "corrupt"));
            if (quiet) await output.WriteLineAsync(JsonSerializer.Serialize(report, CliJsonContext.Default.VerifyReport)).ConfigureAwait(false);
            else Write(report, output);
            foreach (var bad in results.Where(r => r.Status == "corrupt"))
                await error.WriteLineAsync($"corrupt: step {bad.Step.ToString(CultureInfo.InvariantCulture)}: object '{bad.Object}': {bad.Problem}").ConfigureAwait(false);
            return report.Corrupt > 0 ? CliApp.Corrupt : CliApp.Success;
        });
        return command;
    }

    /// <summary>Verifies one checkpoint; a corrupt one is a result, other errors propagate.</summary>
    public static async Task<VerifyEntry> VerifyOneAsync(ICheckpointStore store, string runId, long step, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            var reader = await CheckpointReader.OpenAsync(store, runId, step, cancellationToken).ConfigureAwait(false);
            await reader.VerifyAllAsync(cancellationToken).ConfigureAwait(false);
            long bytes = reader.TotalBytes;
            return new VerifyEntry(step, "verified", bytes, clock.Elapsed.TotalSeconds, null, null);
        }
        catch (CheckpointCorruptException ex)
        {
            return new VerifyEntry(step, "corrupt", 0, clock.Elapsed.TotalSeconds, ex.ObjectName, ex.Problem);
        }
    }

    private static async Task<long> SizeAsync(ICheckpointStore store, string runId, long step, CancellationToken cancellationToken)
    {
        try
        {
            var reader = await CheckpointReader.OpenAsync(store, runId, step, cancellationToken).ConfigureAwait(false);
            return reader.TotalBytes;
        }
        catch (CheckpointCorruptException)
        {
            return 0; // reported when it is verified
        }
    }

    private static void Write(VerifyReport report, TextWriter output)
    {
        var c = CultureInfo.InvariantCulture;
        foreach (var r in report.Results)
        {
            output.WriteLine(r.Status == "verified"
                ? string.Create(c, $"step {r.Step}: verified ({CliConsole.Size(r.Bytes)} in {r.Seconds:0.00} s)")
                : string.Create(c, $"step {r.Step}: CORRUPT: object '{r.Object}': {r.Problem}"));
        }
        output.WriteLine(string.Create(c, $"{report.Location}: {report.Verified} verified, {report.Corrupt} corrupt"));
    }
}
