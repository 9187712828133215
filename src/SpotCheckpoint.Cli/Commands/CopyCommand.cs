using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SpotCheckpoint.Cli.Stores;
using SpotCheckpoint.Format;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Commands;

/// <summary>
/// <c>spotckpt copy SRC DST [--step N]</c>: copies a run's committed checkpoints (all, or one) from any store to any
/// store, byte for byte, committing each at the destination only after its bytes checked out, then verifies the copy.
/// DST is the run at the destination (ending with the same run id, which manifests record) or a store to put it in.
/// Each side can have its own S3 endpoint, AWS profile and region (<c>--from-…</c>, <c>--to-…</c>; see <see cref="S3Side"/>).
/// </summary>
internal static class CopyCommand
{
    public static Command Create()
    {
        var from = new Argument<string>("SRC") { Description = "The run to copy, such as ./checkpoints/demo or s3://bucket/prefix/demo" };
        var to = new Argument<string>("DST") { Description = "Where it goes: the run (…/demo) or a store to put it in (az://container/prefix)" };
        var step = new Option<long?>("--step") { Description = "Copy only this step (default: every committed checkpoint)" };
        var noVerify = new Option<bool>("--no-verify") { Description = "Skip reading the copy back to verify it" };
        var json = new Option<bool>("--json") { Description = "Write JSON for scripts" };
        var fromSide = new S3Side("from");
        var toSide = new S3Side("to");
        var command = new Command("copy", "Copy checkpoints from any store to any store, byte for byte, and verify the copy.") { from, to, step, noVerify, json };
        foreach (var option in fromSide.Options.Concat(toSide.Options)) command.Options.Add(option);
        VerbRunner.SetAction(command, async (parse, output, error, cancellationToken) =>
        {
            var source = RunLocation.Parse(parse.GetValue(from)!, "SRC");
            var destination = Destination(parse.GetValue(to)!, source.RunId);
            bool verify = !parse.GetValue(noVerify);
            bool quiet = parse.GetValue(json);
            await using var sourceStore = fromSide.Open(parse, source.Store, mustExist: true, source.ToString());
            await using var destinationStore = toSide.Open(parse, destination.Store, mustExist: false, destination.ToString());
            if (sourceStore.Description == destinationStore.Description) throw new ArgumentException("SRC and DST are the same run.");

            var selected = parse.GetValue(step) is { } one
                ? [await CheckpointSelection.OneAsync(sourceStore, source, one, cancellationToken).ConfigureAwait(false)]
                : await CheckpointSelection.AllAsync(sourceStore, source, cancellationToken).ConfigureAwait(false);
            long total = 0;
            foreach (var listing in selected)
            {
                try { total += (await CheckpointReader.OpenAsync(sourceStore, source.RunId, listing.Step, cancellationToken).ConfigureAwait(false)).TotalBytes; }
                catch (CheckpointCorruptException) { } // reported when it is copied
            }

            var entries = await CliConsole.WithProgressAsync(output, quiet, $"copying {source.RunId}", verify ? 2 * total : total, async progress =>
            {
                var copier = new CheckpointCopier(sourceStore, destinationStore, source.RunId) { Progress = progress };
                var results = new List<CopyEntry>();
                foreach (var listing in selected.OrderBy(l => l.Step)) results.Add(await copier.CopyAsync(listing.Step, verify, cancellationToken).ConfigureAwait(false));
                // The adaptive policy's interruption history travels with the run.
                if (parse.GetValue(step) is null) await copier.CopyObjectAsync(HazardModel.StateKey(source.RunId), cancellationToken).ConfigureAwait(false);
                return results;
            }).ConfigureAwait(false);

            var report = new CopyReport(sourceStore.Description + source.RunId, destinationStore.Description + source.RunId, source.RunId, entries,
                entries.Sum(e => e.Status == "copied" ? e.Bytes : 0), verify);
            if (quiet) await output.WriteLineAsync(JsonSerializer.Serialize(report, CliJsonContext.Default.CopyReport)).ConfigureAwait(false);
            else Write(report, output);
            foreach (var bad in entries.Where(e => e.Status == "corrupt"))
                await error.WriteLineAsync($"corrupt: step {bad.Step.ToString(CultureInfo.InvariantCulture)}: object '{bad.Object}': {bad.Problem}").ConfigureAwait(false);
            return entries.Any(e => e.Status == "corrupt") ? CliApp.Corrupt : CliApp.Success;
        });
        return command;
    }

    /// <summary>DST ending with the run id is the run itself; anything else is the store the run is put in.</summary>
    private static RunLocation Destination(string uri, string runId) =>
        RunLocation.TryParse(uri, out var run, out _) && run!.RunId == runId ? run : new RunLocation(uri, runId);

    private static void Write(CopyReport report, TextWriter output)
    {
        var c = CultureInfo.InvariantCulture;
        foreach (var e in report.Checkpoints)
        {
            output.WriteLine(e.Status switch
            {
                "copied" => string.Create(c, $"step {e.Step}: copied {CliConsole.Size(e.Bytes)}{(report.Verified ? ", verified" : "")}"),
                "present" => string.Create(c, $"step {e.Step}: already at the destination, identical"),
                _ => string.Create(c, $"step {e.Step}: CORRUPT: object '{e.Object}': {e.Problem}"),
            });
        }
        output.WriteLine(string.Create(c, $"{report.Source} -> {report.Destination}: {report.Checkpoints.Count(e => e.Status == "copied")} copied, " +
            $"{report.Checkpoints.Count(e => e.Status == "present")} already there, {report.Checkpoints.Count(e => e.Status == "corrupt")} corrupt ({CliConsole.Size(report.BytesCopied)})"));
    }
}
