using System.CommandLine;
using System.Globalization;
using SpotCheckpoint.Cli.Stores;
using SpotCheckpoint.Export;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Commands;

/// <summary>
/// <c>spotckpt export RUN-URI [--step N] --format safetensors|torchsharp --output FILE [--module NAME]</c>: writes
/// a committed checkpoint's model weights (parameters and persistent buffers, no optimizer state), every byte
/// checked against its checksum, as one plain safetensors file or in the format TorchSharp's Module.load reads.
/// The file is replaced whole or not at all. Exit code 0 written, 3 the checkpoint is corrupt, 1 other error.
/// </summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var uri = new Argument<string>("RUN-URI") { Description = "The run, such as ./checkpoints/demo or s3://bucket/prefix/demo" };
        var step = new Option<long?>("--step") { Description = "The step to export (default: the newest committed checkpoint)" };
        var format = new Option<string>("--format") { Description = "safetensors or torchsharp (TorchSharp's Module.load format)", Required = true };
        format.AcceptOnlyFromAmong("safetensors", "torchsharp");
        var output = new Option<string>("--output", "-o") { Description = "The file to write", Required = true };
        var module = new Option<string?>("--module") { Description = "The registered module to export (needed when the checkpoint holds several)" };
        var json = new Option<bool>("--json") { Description = "Write JSON for scripts" };
        var command = new Command("export", "Write a checkpoint's model weights as safetensors or for TorchSharp's Module.load. Exit code 0 written, 3 corrupt, 1 other error.")
            { uri, step, format, output, module, json };
        VerbRunner.SetAction(command, async (parse, stdout, stderr, cancellationToken) =>
        {
            var run = RunLocation.Parse(parse.GetValue(uri)!, "RUN-URI");
            var kind = parse.GetValue(format) == "torchsharp" ? WeightsFormat.TorchSharp : WeightsFormat.Safetensors;
            var path = parse.GetValue(output)!;
            await using var store = CheckpointStores.Open(run.Store);
            long? chosen = parse.GetValue(step) is long s
                ? (await CheckpointSelection.OneAsync(store, run, s, cancellationToken).ConfigureAwait(false)).Step
                : null;
            WeightsExportResult result;
            try
            {
                result = await CheckpointExport.ExportWeightsAsync(store, run.RunId, path, kind, chosen, parse.GetValue(module), cancellationToken).ConfigureAwait(false);
            }
            catch (CheckpointCorruptException ex)
            {
                await stderr.WriteLineAsync($"corrupt: object '{ex.ObjectName}': {ex.Problem}").ConfigureAwait(false);
                return CliApp.Corrupt;
            }
            if (parse.GetValue(json))
            {
                using var buffer = new MemoryStream();
                using (var w = new System.Text.Json.Utf8JsonWriter(buffer))
                {
                    w.WriteStartObject();
                    w.WriteString("runId", result.RunId);
                    w.WriteNumber("step", result.Step);
                    w.WriteString("module", result.Module);
                    w.WriteString("format", parse.GetValue(format));
                    w.WriteString("output", Path.GetFullPath(path));
                    w.WriteNumber("tensors", result.Tensors);
                    w.WriteNumber("bytes", result.Bytes);
                    w.WriteEndObject();
                }
                await stdout.WriteLineAsync(System.Text.Encoding.UTF8.GetString(buffer.ToArray())).ConfigureAwait(false);
                return CliApp.Success;
            }
            await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{run}: step {result.Step}: {result.Tensors} tensors of module '{result.Module}' ({CliConsole.Size(result.Bytes)}) written to {path} ({parse.GetValue(format)})")).ConfigureAwait(false);
            return CliApp.Success;
        });
        return command;
    }
}
