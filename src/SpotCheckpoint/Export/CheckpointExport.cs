using System.Text;
using System.Text.Json;
using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Export;

/// <summary>
/// Model weights out of a committed checkpoint, without a training setup: written to a file for deployment
/// (<see cref="ExportWeightsAsync(ICheckpointStore, string, Stream, WeightsFormat, long?, string?, CancellationToken)"/>)
/// or loaded into a model for inference or as the start of a fine-tune (<see cref="LoadWeightsAsync(ICheckpointStore, string, nn.Module, long?, string?, bool, CancellationToken)"/>).
/// Only a module's parameters and persistent buffers are used, never optimizer or scheduler state. Every byte is
/// checked against the checkpoint's checksums (<see cref="CheckpointCorruptException"/> otherwise).
/// </summary>
public static class CheckpointExport
{
    /// <summary>Writes the weights of one registered module to <paramref name="output"/>.</summary>
    /// <param name="store">The store holding the run.</param>
    /// <param name="runId">The run.</param>
    /// <param name="output">Where the file is written; left open.</param>
    /// <param name="format">The file format.</param>
    /// <param name="step">The checkpoint's step; the newest committed one when null.</param>
    /// <param name="module">The registered module's name; may be omitted when the checkpoint holds one module.</param>
    /// <param name="cancellationToken">Cancels the export.</param>
    public static async Task<WeightsExportResult> ExportWeightsAsync(ICheckpointStore store, string runId, Stream output,
        WeightsFormat format, long? step = null, string? module = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        var (reader, entry, tensors) = await OpenAsync(store, runId, step, module, cancellationToken).ConfigureAwait(false);
        long bytes = format switch
        {
            WeightsFormat.Safetensors => await WriteSafetensorsAsync(reader, tensors, output, cancellationToken).ConfigureAwait(false),
            WeightsFormat.TorchSharp => await WriteTorchSharpAsync(reader, tensors, output, cancellationToken).ConfigureAwait(false),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown weights format."),
        };
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        return new WeightsExportResult(reader.RunId, reader.Step, entry.Name, tensors.Count, bytes);
    }

    /// <summary>Writes the weights of one registered module to the file <paramref name="path"/> (replaced whole, or left untouched on failure).</summary>
    /// <param name="store">The store holding the run.</param>
    /// <param name="runId">The run.</param>
    /// <param name="path">The output file.</param>
    /// <param name="format">The file format.</param>
    /// <param name="step">The checkpoint's step; the newest committed one when null.</param>
    /// <param name="module">The registered module's name; may be omitted when the checkpoint holds one module.</param>
    /// <param name="cancellationToken">Cancels the export.</param>
    public static async Task<WeightsExportResult> ExportWeightsAsync(ICheckpointStore store, string runId, string path,
        WeightsFormat format, long? step = null, string? module = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var temporary = full + ".partial-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            WeightsExportResult result;
            await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true))
            {
                result = await ExportWeightsAsync(store, runId, file, format, step, module, cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
            return result;
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>
    /// Copies a checkpoint's weights into <paramref name="model"/> in place (its Parameter objects stay, on whatever
    /// device they are: a checkpoint saved from CUDA loads onto CPU and the other way round). Names, dtypes and
    /// shapes are checked before anything changes (<see cref="CheckpointMismatchException"/>).
    /// </summary>
    /// <param name="store">The store holding the run.</param>
    /// <param name="runId">The run.</param>
    /// <param name="model">The model to fill.</param>
    /// <param name="step">The checkpoint's step; the newest committed one when null.</param>
    /// <param name="module">The registered module's name; may be omitted when the checkpoint holds one module.</param>
    /// <param name="strict">When true, the model and the checkpoint must hold exactly the same tensors; when false,
    /// tensors only one side has are skipped.</param>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The step the weights came from.</returns>
    public static async Task<long> LoadWeightsAsync(ICheckpointStore store, string runId, nn.Module model, long? step = null,
        string? module = null, bool strict = true, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        var (reader, entry, tensors) = await OpenAsync(store, runId, step, module, cancellationToken).ConfigureAwait(false);
        var byKey = tensors.ToDictionary(t => t.Key, t => t.Entry, StringComparer.Ordinal);
        var destination = model.state_dict();
        var plan = new List<(TensorEntry Entry, Tensor Target)>();
        foreach (var (key, target) in destination)
        {
            var owner = $"{entry.Name}/{key}";
            if (!byKey.TryGetValue(key, out var e))
            {
                if (strict) throw new CheckpointMismatchException(owner, "the checkpoint has no such tensor");
                continue;
            }
            var dtype = TensorDtypes.NameOf(target.dtype, owner);
            if (e.Dtype != dtype) throw new CheckpointMismatchException(owner, $"dtype {e.Dtype} in the checkpoint, {dtype} in the model");
            if (!e.Shape.SequenceEqual(target.shape))
                throw new CheckpointMismatchException(owner, $"shape [{string.Join(", ", e.Shape)}] in the checkpoint, [{string.Join(", ", target.shape)}] in the model");
            plan.Add((e, target));
        }
        if (strict)
        {
            foreach (var key in byKey.Keys.Where(k => !destination.ContainsKey(k)))
                throw new CheckpointMismatchException($"{entry.Name}/{key}", "the checkpoint has this tensor but the model does not");
        }

        // Read and verify everything first, then copy: a corrupt checkpoint leaves the model unchanged.
        var data = new List<byte[]>();
        foreach (var (e, _) in plan) data.Add(await reader.ReadTensorBytesAsync(e, cancellationToken).ConfigureAwait(false));
        using (no_grad())
        {
            for (int i = 0; i < plan.Count; i++)
            {
                var target = plan[i].Target;
                using var staging = empty(target.shape, target.dtype, CPU);
                if (data[i].Length > 0) staging.bytes = data[i];
                target.copy_(staging);
            }
        }
        return reader.Step;
    }

    /// <summary>Like <see cref="LoadWeightsAsync(ICheckpointStore, string, nn.Module, long?, string?, bool, CancellationToken)"/>, with the store named by a location (a path or a registered URI scheme).</summary>
    /// <param name="location">The store location, as <see cref="CheckpointStores.Open"/> takes it.</param>
    /// <param name="runId">The run.</param>
    /// <param name="model">The model to fill.</param>
    /// <param name="step">The checkpoint's step; the newest committed one when null.</param>
    /// <param name="module">The registered module's name; may be omitted when the checkpoint holds one module.</param>
    /// <param name="strict">Whether both sides must hold the same tensors.</param>
    /// <param name="cancellationToken">Cancels the load.</param>
    /// <returns>The step the weights came from.</returns>
    public static async Task<long> LoadWeightsAsync(string location, string runId, nn.Module model, long? step = null,
        string? module = null, bool strict = true, CancellationToken cancellationToken = default)
    {
        var store = CheckpointStores.Open(location);
        await using (store.ConfigureAwait(false))
            return await LoadWeightsAsync(store, runId, model, step, module, strict, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<(CheckpointReader Reader, ModuleEntry Entry, List<(string Key, TensorEntry Entry)> Tensors)> OpenAsync(
        ICheckpointStore store, string runId, long? step, string? module, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        long chosen = step ?? (await CheckpointCatalog.ListAsync(store, runId, cancellationToken).ConfigureAwait(false)) switch
        {
            { Count: 0 } => throw new CheckpointException($"Run '{runId}' has no committed checkpoint in {store.Description}."),
            var all => all[0].Step,
        };
        var reader = await CheckpointReader.OpenAsync(store, runId, chosen, cancellationToken).ConfigureAwait(false);
        var modules = reader.Manifest.Modules;
        ModuleEntry entry;
        if (module is not null)
        {
            entry = modules.FirstOrDefault(m => m.Name == module)
                ?? throw new CheckpointMismatchException(module, $"the checkpoint has no such module; it holds: {string.Join(", ", modules.Select(m => m.Name))}");
        }
        else
        {
            entry = modules.Count == 1 ? modules[0]
                : throw new ArgumentException(modules.Count == 0
                    ? "The checkpoint holds no module."
                    : $"The checkpoint holds several modules ({string.Join(", ", modules.Select(m => m.Name))}); name one.", nameof(module));
        }
        await reader.VerifyFramesAsync(cancellationToken).ConfigureAwait(false);
        var byName = reader.Manifest.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var tensors = new List<(string, TensorEntry)>();
        foreach (var key in entry.Tensors)
        {
            var name = entry.Shared is { } shared && shared.TryGetValue(key, out var first) ? first : $"{entry.Name}/{key}";
            if (!byName.TryGetValue(name, out var e)) throw new CheckpointCorruptException(name, "the manifest names a tensor it does not describe");
            tensors.Add((key, e));
        }
        return (reader, entry, tensors);
    }

    private static async Task<long> WriteSafetensorsAsync(CheckpointReader reader, List<(string Key, TensorEntry Entry)> tensors, Stream output, CancellationToken cancellationToken)
    {
        var header = new MemoryStream();
        long offset = 0;
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            json.WriteStartObject("__metadata__");
            json.WriteString("format", "pt");
            json.WriteString("spotcheckpoint.run", reader.RunId);
            json.WriteString("spotcheckpoint.step", reader.Step.ToString(System.Globalization.CultureInfo.InvariantCulture));
            json.WriteEndObject();
            foreach (var (key, e) in tensors)
            {
                json.WriteStartObject(key);
                json.WriteString("dtype", e.Dtype);
                json.WriteStartArray("shape");
                foreach (var d in e.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + e.Bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += e.Bytes;
            }
            json.WriteEndObject();
        }
        // Pad the header with spaces so the data starts 8-byte aligned.
        while (header.Length % 8 != 0) header.WriteByte((byte)' ');
        var length = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        await output.WriteAsync(length, cancellationToken).ConfigureAwait(false);
        header.Position = 0;
        await header.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
        foreach (var (_, e) in tensors)
            await output.WriteAsync(await reader.ReadTensorBytesAsync(e, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        return offset;
    }

    // Module.save's format: LEB128 count; per tensor its name (a .NET length-prefixed string), LEB128 dtype code,
    // rank and dimensions, then the raw bytes.
    private static async Task<long> WriteTorchSharpAsync(CheckpointReader reader, List<(string Key, TensorEntry Entry)> tensors, Stream output, CancellationToken cancellationToken)
    {
        long total = 0;
        var head = new MemoryStream();
        using var writer = new BinaryWriter(head, Encoding.UTF8, leaveOpen: true);
        Leb128(writer, tensors.Count);
        foreach (var (key, e) in tensors)
        {
            if (!TensorDtypes.TryGetScalarType(e.Dtype, out var type))
                throw new CheckpointCorruptException(e.Name, $"dtype {e.Dtype} has no TorchSharp type");
            writer.Write(key);
            Leb128(writer, (int)type);
            Leb128(writer, e.Shape.Length);
            foreach (var d in e.Shape) Leb128(writer, d);
            writer.Flush();
            await output.WriteAsync(head.GetBuffer().AsMemory(0, (int)head.Length), cancellationToken).ConfigureAwait(false);
            head.SetLength(0);
            await output.WriteAsync(await reader.ReadTensorBytesAsync(e, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            total += e.Bytes;
        }
        writer.Flush();
        if (head.Length > 0) await output.WriteAsync(head.GetBuffer().AsMemory(0, (int)head.Length), cancellationToken).ConfigureAwait(false);
        return total;
    }

    private static void Leb128(BinaryWriter writer, long value)
    {
        while (true)
        {
            byte b = (byte)(value & 0x7f);
            value >>= 7;
            if (value == 0) { writer.Write(b); return; }
            writer.Write((byte)(b | 0x80));
        }
    }
}
