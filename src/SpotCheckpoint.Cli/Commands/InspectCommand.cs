using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SpotCheckpoint.Cli.Stores;
using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;
using Spectre.Console;

namespace SpotCheckpoint.Cli.Commands;

/// <summary>
/// <c>spotckpt inspect URI [--step N]</c>: what one checkpoint holds — modules, optimizers and their
/// hyper-parameters, schedulers, RNG, user state, shards and tensors — read from its verified manifest.
/// </summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var uri = new Argument<string>("URI") { Description = "The run, such as ./checkpoints/demo or s3://bucket/prefix/demo" };
        var step = new Option<long?>("--step") { Description = "The step to inspect (default: the newest committed checkpoint)" };
        var tensors = new Option<bool>("--tensors") { Description = "List every tensor (JSON always does)" };
        var json = new Option<bool>("--json") { Description = "Write JSON for scripts: the whole manifest and totals" };
        var command = new Command("inspect", "Show what a checkpoint holds: modules, optimizers, schedulers, RNG, user state, shards, tensors.") { uri, step, tensors, json };
        VerbRunner.SetAction(command, async (parse, output, _, cancellationToken) =>
        {
            var run = RunLocation.Parse(parse.GetValue(uri)!);
            await using var store = StoreOpener.OpenExisting(run.Store, run.ToString());
            var listing = await CheckpointSelection.OneAsync(store, run, parse.GetValue(step), cancellationToken).ConfigureAwait(false);
            var reader = await CheckpointReader.OpenAsync(store, run.RunId, listing.Step, cancellationToken).ConfigureAwait(false);
            long manifestBytes = await store.GetLengthAsync(listing.ManifestKey, cancellationToken).ConfigureAwait(false) ?? 0;
            var m = reader.Manifest;
            var report = new InspectReport(store.Description + run.RunId, run.RunId, listing.Step, manifestBytes + reader.OwnBytes, m.Tensors.Sum(t => t.Bytes), m)
            {
                ReusedBytes = reader.ReusedBytes,
            };
            if (parse.GetValue(json)) await output.WriteLineAsync(JsonSerializer.Serialize(report, CliJsonContext.Default.InspectReport)).ConfigureAwait(false);
            else Write(report, parse.GetValue(tensors), output);
            return CliApp.Success;
        });
        return command;
    }

    private static void Write(InspectReport report, bool listTensors, TextWriter output)
    {
        var console = CliConsole.Create(output);
        var c = CultureInfo.InvariantCulture;
        var m = report.Manifest;
        console.WriteLine($"{report.Location} step {report.Step} (epoch {m.Epoch.ToString(c)}), created {CliConsole.Time(m.CreatedUtc)}");
        var stored = m.IsChunked
            ? $"{CliConsole.Size(report.Bytes)} new in {m.Packs!.Count(p => p.Step == report.Step).ToString(c)} pack(s), {CliConsole.Size(report.ReusedBytes)} reused from {m.Packs!.Count(p => p.Step != report.Step).ToString(c)} older pack(s)"
            : $"{CliConsole.Size(report.Bytes)} in {m.Shards.Count.ToString(c)} shard(s)";
        console.WriteLine($"{stored}, {m.Tensors.Count.ToString(c)} tensors ({CliConsole.Size(report.TensorBytes)}); " +
            $"format {m.Format} v{m.SchemaVersion.ToString(c)}; written by {string.Join(", ", m.Writer.Select(w => $"{w.Key} {w.Value}"))}");

        var tensorsByName = m.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        if (m.Modules.Count > 0)
        {
            var modules = CliConsole.Table(output).Title("modules").AddColumn("name").AddColumn(new TableColumn("tensors").RightAligned()).AddColumn(new TableColumn("size").RightAligned());
            foreach (var module in m.Modules)
            {
                long bytes = module.Tensors.Sum(t => tensorsByName.TryGetValue($"{module.Name}/{t}", out var e) ? e.Bytes : 0);
                modules.AddRow(Markup.Escape(module.Name), module.Tensors.Count.ToString(c), CliConsole.Size(bytes));
            }
            console.Write(modules);
        }
        if (m.Optimizers.Count > 0)
        {
            var optimizers = CliConsole.Table(output).Title("optimizers").AddColumn("name").AddColumn("type").AddColumn(new TableColumn("groups").RightAligned())
                .AddColumn(new TableColumn("parameters").RightAligned()).AddColumn(new TableColumn("step").RightAligned()).AddColumn("hyper-parameters (group 0)");
            foreach (var optimizer in m.Optimizers)
            {
                var parameters = optimizer.ParamGroups.SelectMany(g => g.Parameters).ToList();
                long? step = parameters.Select(p => p.Step).Where(s => s.HasValue).DefaultIfEmpty(null).Max();
                var options = optimizer.ParamGroups.Count > 0 ? string.Join(", ", optimizer.ParamGroups[0].Options.Select(o => $"{o.Key}={o.Value.ToString("G6", c)}")) : "";
                optimizers.AddRow(Markup.Escape(optimizer.Name), Markup.Escape(optimizer.Type), optimizer.ParamGroups.Count.ToString(c), parameters.Count.ToString(c),
                    step?.ToString(c) ?? "-", Markup.Escape(options));
            }
            console.Write(optimizers);
        }
        if (m.Schedulers.Count > 0)
        {
            var schedulers = CliConsole.Table(output).Title("schedulers").AddColumn("name").AddColumn("type").AddColumn(new TableColumn("last epoch").RightAligned())
                .AddColumn(new TableColumn("steps").RightAligned()).AddColumn("last learning rates");
            foreach (var s in m.Schedulers)
                schedulers.AddRow(Markup.Escape(s.Name), Markup.Escape(s.Type), s.LastEpoch.ToString(c), s.StepCount.ToString(c), string.Join(", ", s.LastLrs.Select(l => l.ToString("G6", c))));
            console.Write(schedulers);
        }
        var rng = m.Rng is null ? "not captured" : $"CPU state {(m.Rng.CpuStateTensor is null ? "not captured" : "captured")}, CUDA seed {(m.Rng.CudaSeed?.ToString(c) ?? "none")}";
        console.WriteLine($"RNG: {rng}");
        if (m.UserState.Count > 0)
            console.WriteLine($"user state: {string.Join(", ", m.UserState.Select(u => $"{u.Key} ({u.Value.Length.ToString(c)} B)"))}");
        var shards = CliConsole.Table(output).Title("shards").AddColumn("file").AddColumn(new TableColumn("size").RightAligned()).AddColumn(new TableColumn("tensors").RightAligned());
        for (int i = 0; i < m.Shards.Count; i++)
            shards.AddRow(Markup.Escape(m.Shards[i].File), CliConsole.Size(m.Shards[i].Bytes), m.Tensors.Count(t => t.Shard == i).ToString(c));
        if (m.IsChunked)
        {
            var packs = CliConsole.Table(output).Title("packs").AddColumn("file").AddColumn(new TableColumn("size").RightAligned()).AddColumn("written by");
            foreach (var p in m.Packs!)
                packs.AddRow(Markup.Escape(p.File), CliConsole.Size(p.Bytes), p.Step == report.Step ? "this checkpoint" : $"step {p.Step.ToString(c)} (reused)");
            console.Write(packs);
        }
        else
        {
            console.Write(shards);
        }
        if (listTensors)
        {
            var tensors = CliConsole.Table(output).Title("tensors").AddColumn("name").AddColumn("dtype").AddColumn("shape")
                .AddColumn(new TableColumn("size").RightAligned()).AddColumn(new TableColumn("shard").RightAligned()).AddColumn("xxh3");
            foreach (var t in m.Tensors)
                tensors.AddRow(Markup.Escape(t.Name), t.Dtype, Markup.Escape("[" + string.Join(", ", t.Shape.Select(d => d.ToString(c))) + "]"), CliConsole.Size(t.Bytes), t.Shard.ToString(c), t.Xxh3);
            console.Write(tensors);
        }
    }
}
