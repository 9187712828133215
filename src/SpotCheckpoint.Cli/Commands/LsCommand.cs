using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SpotCheckpoint.Cli.Stores;
using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;
using Spectre.Console;

namespace SpotCheckpoint.Cli.Commands;

/// <summary>
/// <c>spotckpt ls URI</c>: the committed checkpoints of a run (<c>…/run-id</c>), or of every run in a store, with
/// step, time, size and state. The state comes from the manifest checksum and the shard frames (sizes and header
/// checksums), which are cheap to read; <c>verify</c> reads every byte.
/// </summary>
internal static class LsCommand
{
    public static Command Create()
    {
        var uri = new Argument<string>("URI") { Description = "A run (./checkpoints/demo, s3://bucket/prefix/demo) or a store holding runs (./checkpoints)" };
        var json = new Option<bool>("--json") { Description = "Write JSON for scripts instead of a table" };
        var command = new Command("ls", "List committed checkpoints: step, time, size and state.") { uri, json };
        VerbRunner.SetAction(command, async (parse, output, _, cancellationToken) =>
        {
            var report = await ListAsync(parse.GetValue(uri)!, cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json)) await output.WriteLineAsync(JsonSerializer.Serialize(report, CliJsonContext.Default.LsReport)).ConfigureAwait(false);
            else Write(report, output);
            return CliApp.Success;
        });
        return command;
    }

    public static async Task<LsReport> ListAsync(string uri, CancellationToken cancellationToken)
    {
        // A local path that is not there is an error (exit code 1), not an empty listing, and is not created. A run
        // without checkpoints in a store that exists lists empty, as it does in an object store.
        StoreOpener.CheckScheme(uri);
        bool isRun = RunLocation.TryParse(uri, out var run, out _);
        if (StoreOpener.LocalPath(uri) is { } path && !Directory.Exists(path)
            && !(isRun && StoreOpener.LocalPath(run!.Store) is { } storePath && Directory.Exists(storePath)))
            throw new DirectoryNotFoundException($"'{uri}' does not exist.");
        // A run first; when the URI holds no step folders of that run, it is read as a store holding runs.
        if (isRun)
        {
            await using var store = StoreOpener.Open(run!.Store);
            var folders = await StoreScan.StepFoldersAsync(store, run.RunId, cancellationToken).ConfigureAwait(false);
            if (folders.Count > 0) return await DescribeAsync(store, store.Description + run.RunId, folders, cancellationToken).ConfigureAwait(false);
        }
        await using var root = StoreOpener.Open(uri);
        var all = await StoreScan.StepFoldersAsync(root, null, cancellationToken).ConfigureAwait(false);
        return await DescribeAsync(root, root.Description, all, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<LsReport> DescribeAsync(ICheckpointStore store, string location, IReadOnlyList<StepFolder> folders, CancellationToken cancellationToken)
    {
        var checkpoints = new List<CheckpointEntry>();
        var uncommitted = new List<IncompleteEntry>();
        foreach (var folder in folders)
        {
            if (!folder.Committed)
            {
                uncommitted.Add(new IncompleteEntry(folder.RunId, folder.Step, folder.Objects.Count, folder.Bytes, folder.LastModified));
                continue;
            }
            try
            {
                var reader = await CheckpointReader.OpenAsync(store, folder.RunId, folder.Step, cancellationToken).ConfigureAwait(false);
                await reader.VerifyFramesAsync(cancellationToken).ConfigureAwait(false);
                var manifest = reader.Manifest;
                long manifestBytes = folder.Objects.First(o => o.Key == StoreKeys.ManifestKey(folder.RunId, folder.Step)).Length;
                checkpoints.Add(new CheckpointEntry(folder.RunId, folder.Step, manifest.Epoch, manifest.CreatedUtc, manifestBytes + reader.OwnBytes,
                    manifest.IsChunked ? manifest.Packs!.Count : manifest.Shards.Count, manifest.Tensors.Count, "ok", null) { TotalBytes = manifestBytes + reader.TotalBytes });
            }
            catch (CheckpointCorruptException ex)
            {
                checkpoints.Add(new CheckpointEntry(folder.RunId, folder.Step, null, folder.LastModified, folder.Bytes, 0, 0, "corrupt", ex.Message) { TotalBytes = folder.Bytes });
            }
        }
        return new LsReport(location, checkpoints, uncommitted);
    }

    private static void Write(LsReport report, TextWriter output)
    {
        var console = CliConsole.Create(output);
        var c = CultureInfo.InvariantCulture;
        if (report.Checkpoints.Count == 0)
        {
            console.WriteLine($"No committed checkpoints at {report.Location}.");
        }
        else
        {
            bool runs = report.Checkpoints.Select(e => e.RunId).Distinct().Count() > 1 || !report.Location.EndsWith(report.Checkpoints[0].RunId, StringComparison.Ordinal);
            var table = CliConsole.Table(output).Title(Markup.Escape(report.Location));
            if (runs) table.AddColumn("run");
            table.AddColumn(new TableColumn("step").RightAligned());
            table.AddColumn(new TableColumn("epoch").RightAligned());
            table.AddColumn("created (UTC)");
            table.AddColumn(new TableColumn("size").RightAligned());
            table.AddColumn(new TableColumn("total").RightAligned());
            table.AddColumn(new TableColumn("shards").RightAligned());
            table.AddColumn(new TableColumn("tensors").RightAligned());
            table.AddColumn("state");
            foreach (var e in report.Checkpoints)
            {
                var cells = new List<string>();
                if (runs) cells.Add(Markup.Escape(e.RunId));
                cells.Add(e.Step.ToString(c));
                cells.Add(e.Epoch?.ToString(c) ?? "-");
                cells.Add(CliConsole.Time(e.CreatedUtc));
                cells.Add(CliConsole.Size(e.Bytes));
                cells.Add(CliConsole.Size(e.TotalBytes));
                cells.Add(e.Shards.ToString(c));
                cells.Add(e.Tensors.ToString(c));
                cells.Add(e.State == "ok" ? "ok" : $"[red]corrupt[/]: {Markup.Escape(e.Problem ?? "")}");
                table.AddRow(cells.ToArray());
            }
            console.Write(table);
        }
        foreach (var u in report.Uncommitted)
        {
            console.WriteLine(string.Create(c,
                $"uncommitted: {u.RunId} step {u.Step} ({u.Objects} object(s), {CliConsole.Size(u.Bytes)}, last written {CliConsole.Time(u.LastModified)}): being written, or left by a crashed writer (prune removes it once stale)"));
        }
    }
}
