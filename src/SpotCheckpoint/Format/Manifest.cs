using System.Text.Json;
using System.Text.Json.Serialization;

namespace SpotCheckpoint.Format;

/// <summary>
/// The manifest of one checkpoint: what was captured, where each tensor's bytes are, and their checksums. Written
/// last; its presence under <c>run/step-N/manifest.json</c> is what commits the checkpoint. Version 1 keeps the
/// bytes in safetensors shards inside the step's folder; version 2 (incremental) cuts each tensor into
/// content-addressed chunks stored in packs under <c>run/chunks/</c>, shared between checkpoints. See docs/format.md.
/// </summary>
public sealed class CheckpointManifest
{
    /// <summary>The newest schema version this library reads and writes (2: chunked, incremental).</summary>
    public const int CurrentSchemaVersion = ChunkedSchemaVersion;

    /// <summary>Schema version 1: tensor bytes in safetensors shards inside the checkpoint's folder.</summary>
    public const int ShardedSchemaVersion = 1;

    /// <summary>Schema version 2: tensor bytes in content-addressed chunks, stored in the run's packs.</summary>
    public const int ChunkedSchemaVersion = 2;

    /// <summary>The format marker, always <c>spotcheckpoint</c>.</summary>
    [JsonRequired]
    public string Format { get; set; } = "spotcheckpoint";

    /// <summary>Schema version; readers refuse versions they do not know.</summary>
    [JsonRequired]
    public int SchemaVersion { get; set; } = ShardedSchemaVersion;

    /// <summary>The run this checkpoint belongs to.</summary>
    [JsonRequired]
    public string RunId { get; set; } = "";

    /// <summary>The training step the state was captured at (steps completed).</summary>
    [JsonRequired]
    public long Step { get; set; }

    /// <summary>The epoch counter at capture.</summary>
    public long Epoch { get; set; }

    /// <summary>When the snapshot was taken (UTC).</summary>
    public DateTimeOffset CreatedUtc { get; set; }

    /// <summary>Library versions that wrote the checkpoint.</summary>
    public Dictionary<string, string> Writer { get; set; } = new();

    /// <summary>The safetensors shard files (version 1; empty in version 2).</summary>
    public List<ShardEntry> Shards { get; set; } = new();

    /// <summary>Version 2: the packs (objects under <c>run/chunks/</c>) this checkpoint's chunks live in; null in version 1.</summary>
    public List<PackEntry>? Packs { get; set; }

    /// <summary>Version 2: the chunk size tensors were cut into (the last chunk of a tensor may be shorter); null in version 1.</summary>
    public long? ChunkBytes { get; set; }

    /// <summary>True when this is a version-2 (chunked) manifest.</summary>
    [JsonIgnore]
    public bool IsChunked => SchemaVersion == ChunkedSchemaVersion;

    /// <summary>Every tensor, in shard and offset order.</summary>
    public List<TensorEntry> Tensors { get; set; } = new();

    /// <summary>Registered modules and the names of their tensors.</summary>
    public List<ModuleEntry> Modules { get; set; } = new();

    /// <summary>Optimizer state beyond tensors: hyper-parameters and step counts.</summary>
    public List<OptimizerEntry> Optimizers { get; set; } = new();

    /// <summary>LR-scheduler state.</summary>
    public List<SchedulerEntry> Schedulers { get; set; } = new();

    /// <summary>Random-number-generator state.</summary>
    public RngEntry? Rng { get; set; }

    /// <summary>User state blobs by name (base64 in JSON).</summary>
    public Dictionary<string, byte[]> UserState { get; set; } = new();

    /// <summary>The run's history up to this checkpoint, for reports (see <see cref="CheckpointHistory"/>); null in older manifests.</summary>
    public CheckpointHistory? History { get; set; }

    /// <summary>
    /// Ids of the termination notices the run had handled when this checkpoint was taken
    /// (<see cref="Notices.NoticeHub.HandledNoticeIds"/>): a run resumed from it does not act again on a notice
    /// still standing from before the restart. Null when there were none, and in older manifests.
    /// </summary>
    public List<string>? HandledNotices { get; set; }
}

/// <summary>One safetensors shard file.</summary>
public sealed class ShardEntry
{
    /// <summary>File name inside the checkpoint's folder.</summary>
    public string File { get; set; } = "";
    /// <summary>Total size in bytes.</summary>
    public long Bytes { get; set; }
    /// <summary>Size of the 8-byte length prefix plus JSON header; tensor data starts here.</summary>
    public long DataOffset { get; set; }
    /// <summary>XXH3-64 of bytes [0, DataOffset) as 16 hex digits.</summary>
    public string HeaderXxh3 { get; set; } = "";
}

/// <summary>
/// One pack of a version-2 checkpoint: an object <c>run/chunks/&lt;File&gt;</c> holding chunks back to back (no header).
/// A pack is written by one checkpoint (<see cref="Step"/>) and may be referenced by later ones.
/// </summary>
public sealed class PackEntry
{
    /// <summary>File name inside the run's <c>chunks/</c> folder: <c>&lt;step, 8 digits&gt;-&lt;attempt, 8 hex&gt;-&lt;index, 5 digits&gt;.bin</c>.</summary>
    public string File { get; set; } = "";
    /// <summary>Total size in bytes.</summary>
    public long Bytes { get; set; }
    /// <summary>The step of the checkpoint that wrote it.</summary>
    public long Step { get; set; }
}

/// <summary>One chunk of a tensor (version 2): its content hash and where its bytes are.</summary>
public sealed class ChunkEntry
{
    /// <summary>XXH3-128 of the chunk's bytes as 32 hex digits (with <see cref="Bytes"/>, the chunk's identity).</summary>
    public string Xxh128 { get; set; } = "";
    /// <summary>Length in bytes.</summary>
    public long Bytes { get; set; }
    /// <summary>Index into <see cref="CheckpointManifest.Packs"/>.</summary>
    public int Pack { get; set; }
    /// <summary>Byte offset in the pack.</summary>
    public long Offset { get; set; }
}

/// <summary>One tensor's place and checksum.</summary>
public sealed class TensorEntry
{
    /// <summary>Qualified name, for example <c>model/fc1.weight</c> or <c>optimizer/exp_avg/model/fc1.weight</c>.</summary>
    public string Name { get; set; } = "";
    /// <summary>safetensors dtype (F32, BF16, I64, …).</summary>
    public string Dtype { get; set; } = "";
    /// <summary>Shape.</summary>
    public long[] Shape { get; set; } = Array.Empty<long>();
    /// <summary>Index into <see cref="CheckpointManifest.Shards"/> (version 1).</summary>
    public int Shard { get; set; }
    /// <summary>Absolute byte offset in the shard file (version 1).</summary>
    public long Offset { get; set; }
    /// <summary>Length in bytes.</summary>
    public long Bytes { get; set; }
    /// <summary>XXH3-64 of the bytes as 16 hex digits (version 1; empty in version 2, where each chunk carries its hash).</summary>
    public string Xxh3 { get; set; } = "";
    /// <summary>Version 2: the tensor's chunks in order (their lengths add up to <see cref="Bytes"/>); null in version 1.</summary>
    public List<ChunkEntry>? Chunks { get; set; }
}

/// <summary>A registered module.</summary>
public sealed class ModuleEntry
{
    /// <summary>Registration name.</summary>
    public string Name { get; set; } = "";
    /// <summary>Parameter and buffer names as the module's state_dict names them.</summary>
    public List<string> Tensors { get; set; } = new();
    /// <summary>
    /// Tensors this module shares with a module registered earlier (weight tying across registrations): key →
    /// qualified name of the tensor saved once; null when none.
    /// </summary>
    public Dictionary<string, string>? Shared { get; set; }
}

/// <summary>A registered optimizer.</summary>
public sealed class OptimizerEntry
{
    /// <summary>Registration name.</summary>
    public string Name { get; set; } = "";
    /// <summary>Optimizer class name: SGD, Adam, AdamW, Adamax, NAdam, RAdam, RMSProp, Adagrad, Adadelta, ASGD, Rprop, Lbfgs.</summary>
    public string Type { get; set; } = "";
    /// <summary>Parameter groups in order.</summary>
    public List<ParamGroupEntry> ParamGroups { get; set; } = new();
}

/// <summary>One parameter group of an optimizer.</summary>
public sealed class ParamGroupEntry
{
    /// <summary>Hyper-parameters (lr, initial_lr, betas, …) by name.</summary>
    public Dictionary<string, double> Options { get; set; } = new();
    /// <summary>Parameters by qualified name, with their per-parameter state.</summary>
    public List<ParamStateEntry> Parameters { get; set; } = new();
}

/// <summary>Per-parameter optimizer state.</summary>
public sealed class ParamStateEntry
{
    /// <summary>Qualified parameter name, for example <c>model/fc1.weight</c>.</summary>
    public string Parameter { get; set; } = "";
    /// <summary>Step count (Adam/AdamW), when the optimizer keeps one.</summary>
    public long? Step { get; set; }
    /// <summary>State tensors by role (exp_avg, exp_avg_sq, max_exp_avg_sq, momentum_buffer) → tensor name.</summary>
    public Dictionary<string, string> Tensors { get; set; } = new();
    /// <summary>Numeric state besides <see cref="Step"/> (NAdam mu_product, ASGD eta and mu, LBFGS counters); null when none.</summary>
    public Dictionary<string, double>? Scalars { get; set; }
}

/// <summary>A registered LR scheduler.</summary>
public sealed class SchedulerEntry
{
    /// <summary>Registration name.</summary>
    public string Name { get; set; } = "";
    /// <summary>Scheduler class name.</summary>
    public string Type { get; set; } = "";
    /// <summary>The scheduler's last epoch counter.</summary>
    public int LastEpoch { get; set; }
    /// <summary>How many times step() ran.</summary>
    public int StepCount { get; set; }
    /// <summary>Last learning rates per parameter group.</summary>
    public List<double> LastLrs { get; set; } = new();
    /// <summary>Base learning rates per parameter group.</summary>
    public List<double> BaseLrs { get; set; } = new();
    /// <summary>Further mutable fields of particular schedulers (ReduceLROnPlateau).</summary>
    public Dictionary<string, double> Extra { get; set; } = new();
    /// <summary>The wrapped schedulers' state, in order (SequentialLR, ChainedLR); null for other schedulers.</summary>
    public List<SchedulerEntry>? Inner { get; set; }
}

/// <summary>Random-number-generator state.</summary>
public sealed class RngEntry
{
    /// <summary>Tensor holding the CPU generator state, or null when not captured.</summary>
    public string? CpuStateTensor { get; set; }
    /// <summary>Seed of the per-step CUDA reseeding scheme, or null when not used.</summary>
    public long? CudaSeed { get; set; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(CheckpointManifest))]
[JsonSerializable(typeof(CheckpointHistory))]
internal sealed partial class ManifestJsonContext : JsonSerializerContext;
