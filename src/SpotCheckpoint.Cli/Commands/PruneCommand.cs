using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SpotCheckpoint.Cli.Stores;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Commands;

/// <summary>
/// <c>spotckpt prune URI --keep N</c>: keeps the newest N committed checkpoints of a run and deletes older ones
/// (manifest first, so none is ever seen half-deleted), step folders without a manifest older than the newest
/// commit, stray files in kept checkpoints, and incomplete uploads (temporary files, unfinished multipart uploads)
/// older than <c>--incomplete-older-than</c>. The same retention the checkpointer applies after each commit.
/// </summary>
internal static class PruneCommand
{
    public static Command Create()
    {
        var uri = new Argument<string>("URI") { Description = "The run, such as ./checkpoints/demo or s3://bucket/prefix/demo" };
        var keep = new Option<int>("--keep") { Description = "How many of the newest committed checkpoints to keep (at least 1)", Required = true };
        var age = new Option<string>("--incomplete-older-than") { Description = "Remove incomplete uploads older than this: 90s, 30m, 1h, 2d or 01:00:00 (default 1h)", DefaultValueFactory = _ => "1h" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Say what would be removed, remove nothing (incomplete uploads are not counted)" };
        var json = new Option<bool>("--json") { Description = "Write JSON for scripts" };
        var command = new Command("prune", "Keep the newest N checkpoints; remove older ones, uncommitted leftovers and stale incomplete uploads.") { uri, keep, age, dryRun, json };
        VerbRunner.SetAction(command, async (parse, output, _, cancellationToken) =>
        {
            int keepLast = parse.GetValue(keep);
            if (keepLast < 1) throw new ArgumentException($"--keep must be at least 1 (found {keepLast.ToString(CultureInfo.InvariantCulture)}).");
            var olderThan = Durations.Parse(parse.GetValue(age)!, "--incomplete-older-than");
            var run = RunLocation.Parse(parse.GetValue(uri)!);
            await using var store = StoreOpener.OpenExisting(run.Store, run.ToString());
            var report = await PruneAsync(store, run, keepLast, olderThan, parse.GetValue(dryRun), cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json)) await output.WriteLineAsync(JsonSerializer.Serialize(report, CliJsonContext.Default.PruneReport)).ConfigureAwait(false);
            else Write(report, output);
            return CliApp.Success;
        });
        return command;
    }

    public static async Task<PruneReport> PruneAsync(ICheckpointStore store, RunLocation run, int keep, TimeSpan incompleteOlderThan, bool dryRun, CancellationToken cancellationToken)
    {
        var before = await StoreScan.StepFoldersAsync(store, run.RunId, cancellationToken).ConfigureAwait(false);
        var observed = new ObservedStore(store) { DryRun = dryRun };
        int removed = await CheckpointCatalog.ApplyRetentionAsync(observed, run.RunId, keep, incompleteOlderThan, cancellationToken: cancellationToken).ConfigureAwait(false);
        var deleted = observed.Deleted;
        var removedCheckpoints = deleted.Where(k => StoreKeys.TryParseManifestKey(run.RunId, k, out _))
            .Select(k => { StoreKeys.TryParseManifestKey(run.RunId, k, out var s); return s; }).OrderByDescending(s => s).ToList();
        var committed = before.Where(f => f.Committed).Select(f => f.Step).ToHashSet();
        var removedUncommitted = deleted.Select(k => StoreScan.TryParseStepKey(k, out _, out var s) ? s : -1)
            .Where(s => s >= 0 && !committed.Contains(s)).Distinct().OrderByDescending(s => s).ToList();
        var kept = committed.Except(removedCheckpoints).OrderByDescending(s => s).ToList();
        return new PruneReport(store.Description + run.RunId, run.RunId, keep, dryRun, kept, removedCheckpoints, removedUncommitted,
            deleted.Count, removed - deleted.Count);
    }

    private static void Write(PruneReport report, TextWriter output)
    {
        var c = CultureInfo.InvariantCulture;
        string verb = report.DryRun ? "would remove" : "removed";
        output.WriteLine(string.Create(c, $"{report.Location}: kept {report.Kept.Count} checkpoint(s) [{string.Join(", ", report.Kept)}]"));
        output.WriteLine(string.Create(c, $"{verb} {report.RemovedCheckpoints.Count} checkpoint(s) [{string.Join(", ", report.RemovedCheckpoints)}], " +
            $"{report.RemovedUncommittedSteps.Count} uncommitted step folder(s) [{string.Join(", ", report.RemovedUncommittedSteps)}], {report.RemovedObjects} object(s)"));
        output.WriteLine(report.DryRun
            ? "incomplete uploads: not looked at in a dry run"
            : string.Create(c, $"removed {report.RemovedIncompleteUploads} stale incomplete upload(s)"));
    }
}

/// <summary>Durations as people type them: <c>90s</c>, <c>30m</c>, <c>1h</c>, <c>2d</c>, or <c>01:00:00</c>.</summary>
internal static class Durations
{
    public static TimeSpan Parse(string text, string option)
    {
        var t = text.Trim();
        if (t.Length >= 2 && char.IsLetter(t[^1]) && double.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && number >= 0 && double.IsFinite(number))
        {
            switch (char.ToLowerInvariant(t[^1]))
            {
                case 's': return TimeSpan.FromSeconds(number);
                case 'm': return TimeSpan.FromMinutes(number);
                case 'h': return TimeSpan.FromHours(number);
                case 'd': return TimeSpan.FromDays(number);
            }
        }
        if (TimeSpan.TryParse(t, CultureInfo.InvariantCulture, out var span) && span >= TimeSpan.Zero) return span;
        throw new ArgumentException($"{option} '{text}' is not a duration: use 90s, 30m, 1h, 2d or 01:00:00.");
    }
}
