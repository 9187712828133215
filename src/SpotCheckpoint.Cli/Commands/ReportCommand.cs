using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SpotCheckpoint.Cli.Report;
using SpotCheckpoint.Cli.Stores;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Commands;

/// <summary>
/// <c>spotckpt report URI [--output report.html] [--json]</c>: the run's progress, checkpoints, interruptions and
/// cost, computed from the histories its manifests carry (docs/runbooks/read-the-report.md).
/// </summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var uri = new Argument<string>("URI") { Description = "The run, such as ./checkpoints/demo or s3://bucket/prefix/demo" };
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Write the HTML report to this file (one self-contained page)" };
        var json = new Option<bool>("--json") { Description = "Write the report's numbers as JSON to stdout" };
        var onDemand = new Option<double?>("--on-demand-price") { Description = "Hourly on-demand price (default: the one the manifests recorded)" };
        var spot = new Option<double?>("--spot-price") { Description = "Hourly spot price (default: the one the manifests recorded)" };
        var currency = new Option<string?>("--currency") { Description = "Currency of the prices, for the page (default: the one recorded)" };
        var command = new Command("report", "Report a run's progress, checkpoints, interruptions and cost (HTML with --output, JSON with --json).")
        {
            uri, output, json, onDemand, spot, currency,
        };
        VerbRunner.SetAction(command, async (parse, stdout, _, cancellationToken) =>
        {
            var run = RunLocation.Parse(parse.GetValue(uri)!);
            var prices = new PriceOverride(Price(parse.GetValue(onDemand), "--on-demand-price"), Price(parse.GetValue(spot), "--spot-price"), parse.GetValue(currency));
            var file = parse.GetValue(output);
            bool asJson = parse.GetValue(json);
            if (file is null && !asJson) throw new ArgumentException("Say where the report goes: --output report.html, --json, or both.");
            await using var store = CheckpointStores.Open(run.Store);
            var report = await RunReportBuilder.BuildAsync(store, run, prices, cancellationToken).ConfigureAwait(false);
            if (file is not null)
            {
                await File.WriteAllTextAsync(file.FullName, RunReportWriter.Html(report), cancellationToken).ConfigureAwait(false);
                if (!asJson) await stdout.WriteLineAsync($"wrote {file.FullName}: {report.Checkpoints.Known} checkpoint(s), {report.Interruptions.Count} interruption(s)").ConfigureAwait(false);
            }
            if (asJson) await stdout.WriteLineAsync(JsonSerializer.Serialize(report, CliJsonContext.Default.RunReport)).ConfigureAwait(false);
            return CliApp.Success;
        });
        return command;
    }

    private static double? Price(double? value, string option)
    {
        if (value is { } v && (!(v >= 0) || double.IsInfinity(v)))
            throw new ArgumentException($"{option} must be a finite price >= 0, not {v.ToString(CultureInfo.InvariantCulture)}.");
        return value;
    }
}
