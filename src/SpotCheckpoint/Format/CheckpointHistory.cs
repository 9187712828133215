namespace SpotCheckpoint.Format;

/// <summary>Why a checkpoint was taken.</summary>
public enum CheckpointReason
{
    /// <summary>The policy's schedule said it was due.</summary>
    Periodic,

    /// <summary>Due early because a risk signal (a rebalance recommendation, scheduled maintenance) tightened the schedule.</summary>
    Risk,

    /// <summary>Taken after a termination notice, before the machine goes away.</summary>
    Emergency,

    /// <summary>The last checkpoint of a finished run.</summary>
    Final,

    /// <summary>Asked for by the program (<see cref="Checkpointer.CheckpointAsync"/>).</summary>
    Manual,
}

/// <summary>
/// What a run report needs, carried by every manifest (<see cref="CheckpointManifest.History"/>): the processes that
/// trained the run and the checkpoints they committed, up to and including this one. Each manifest carries the whole
/// lineage it descends from, so the newest one tells the story even after retention pruned the others. Nothing
/// secret: no keys, hosts, paths or payloads. Null in manifests written before version 1.1 of the library.
/// </summary>
public sealed class CheckpointHistory
{
    /// <summary>The most checkpoint records a manifest carries; older ones are dropped and counted in <see cref="OmittedCheckpoints"/>.</summary>
    public const int MaxCheckpoints = 2000;

    /// <summary>The processes (attempts) that trained this lineage, oldest first; the last one wrote this manifest.</summary>
    public List<AttemptRecord> Attempts { get; set; } = new();

    /// <summary>Committed checkpoints of this lineage, oldest first; the last one is this checkpoint.</summary>
    public List<CheckpointRecord> Checkpoints { get; set; } = new();

    /// <summary>Checkpoint records dropped (oldest first) to keep <see cref="Checkpoints"/> within <see cref="MaxCheckpoints"/>.</summary>
    public long OmittedCheckpoints { get; set; }
}

/// <summary>One process that trained the run.</summary>
public sealed class AttemptRecord
{
    /// <summary>A random id of the attempt, unique within the run.</summary>
    public string Id { get; set; } = "";

    /// <summary>When the process started (UTC), as the operating system reports it.</summary>
    public DateTimeOffset ProcessStartUtc { get; set; }

    /// <summary>When its checkpointer was created (UTC, from its clock).</summary>
    public DateTimeOffset StartedUtc { get; set; }

    /// <summary>The step it resumed from; null for a fresh start.</summary>
    public long? ResumedFromStep { get; set; }

    /// <summary>The machine type (for example <c>p5.48xlarge</c>), when known.</summary>
    public string? InstanceType { get; set; }

    /// <summary>The region, when known.</summary>
    public string? Region { get; set; }

    /// <summary>The zone, when known.</summary>
    public string? Zone { get; set; }

    /// <summary>The configured prices, when set.</summary>
    public PriceRecord? Prices { get; set; }
}

/// <summary>Hourly prices of the machine, as configured (<see cref="Diagnostics.CostOptions"/>).</summary>
public sealed class PriceRecord
{
    /// <summary>On-demand price per hour.</summary>
    public double? OnDemandPerHour { get; set; }

    /// <summary>Spot price per hour.</summary>
    public double? SpotPerHour { get; set; }

    /// <summary>The currency both are in (for example <c>USD</c>).</summary>
    public string? Currency { get; set; }
}

/// <summary>One committed checkpoint.</summary>
public sealed class CheckpointRecord
{
    /// <summary>The step captured.</summary>
    public long Step { get; set; }

    /// <summary>The <see cref="AttemptRecord.Id"/> of the process that wrote it.</summary>
    public string Attempt { get; set; } = "";

    /// <summary>Why it was taken: <c>periodic</c>, <c>risk</c>, <c>emergency</c>, <c>final</c> or <c>manual</c> (lower case; readers accept others).</summary>
    public string Reason { get; set; } = "";

    /// <summary>When its manifest was written (UTC): the commit.</summary>
    public DateTimeOffset CommittedUtc { get; set; }

    /// <summary>How long training was blocked by the snapshot, in seconds.</summary>
    public double StallSeconds { get; set; }

    /// <summary>How long until the device-to-host copies had landed, in seconds, when state was on a GPU.</summary>
    public double? DeviceStallSeconds { get; set; }

    /// <summary>From the end of the snapshot to the manifest's write, in seconds.</summary>
    public double PersistSeconds { get; set; }

    /// <summary>Bytes of the shard files (the manifest is not counted: it cannot hold its own size).</summary>
    public long Bytes { get; set; }

    /// <summary>The notice that caused it (emergency and risk checkpoints).</summary>
    public NoticeRecord? Notice { get; set; }
}

/// <summary>A notice, without its raw payload.</summary>
public sealed class NoticeRecord
{
    /// <summary>Who sent it: <c>aws</c>, <c>gcp</c>, <c>azure</c>, <c>signal</c>, <c>host</c>, …</summary>
    public string Provider { get; set; } = "";

    /// <summary><c>termination</c>, <c>risk</c> or <c>informational</c>.</summary>
    public string Kind { get; set; } = "";

    /// <summary>The provider's word for it (<c>terminate</c>, <c>Preempt</c>, <c>SIGTERM</c>, …).</summary>
    public string Action { get; set; } = "";

    /// <summary>The provider's event id, when it has one.</summary>
    public string? Id { get; set; }

    /// <summary>When the machine was expected to go away (UTC).</summary>
    public DateTimeOffset DeadlineUtc { get; set; }

    /// <summary>When the process saw the notice (UTC).</summary>
    public DateTimeOffset SeenUtc { get; set; }
}
