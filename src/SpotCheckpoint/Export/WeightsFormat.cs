namespace SpotCheckpoint.Export;

/// <summary>File formats <see cref="CheckpointExport"/> writes model weights in.</summary>
public enum WeightsFormat
{
    /// <summary>One plain safetensors file (8-byte header length, JSON header, raw little-endian data).</summary>
    Safetensors,

    /// <summary>The format TorchSharp's <c>Module.save</c> writes and <c>Module.load</c> reads.</summary>
    TorchSharp,
}

/// <summary>What an export wrote.</summary>
/// <param name="RunId">The run.</param>
/// <param name="Step">The checkpoint's step.</param>
/// <param name="Module">The registered module the weights came from.</param>
/// <param name="Tensors">How many tensors (parameters and persistent buffers) were written.</param>
/// <param name="Bytes">Tensor data bytes written.</param>
public sealed record WeightsExportResult(string RunId, long Step, string Module, int Tensors, long Bytes);
