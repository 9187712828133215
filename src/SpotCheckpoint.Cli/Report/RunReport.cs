namespace SpotCheckpoint.Cli.Report;

// The document `spotckpt report --json` writes (camelCase); docs/runbooks/read-the-report.md explains every field.

/// <summary>A run's story, computed from the manifests' histories.</summary>
/// <param name="Location">The run, as given.</param>
/// <param name="RunId">The run id.</param>
/// <param name="FinalStep">The newest committed step.</param>
/// <param name="Completed">True when the newest checkpoint is the final one of a finished run.</param>
/// <param name="Checkpoints">Counts of the checkpoints known.</param>
/// <param name="Attempts">The processes that trained the run, oldest first.</param>
/// <param name="Timeline">Every checkpoint known, oldest first.</param>
/// <param name="Interruptions">Each time an attempt ended before the run was done and another resumed it.</param>
/// <param name="SecondsPerStep">Training time per step, measured between checkpoints of one attempt (stalls excluded); null when unknown.</param>
/// <param name="Cost">The cost view; null without prices.</param>
/// <param name="NotSeen">What the report could not see, in words.</param>
internal sealed record RunReport(
    string Location,
    string RunId,
    long FinalStep,
    bool Completed,
    CheckpointCounts Checkpoints,
    IReadOnlyList<AttemptSummary> Attempts,
    IReadOnlyList<CheckpointPoint> Timeline,
    IReadOnlyList<InterruptionSummary> Interruptions,
    double? SecondsPerStep,
    CostSummary? Cost,
    IReadOnlyList<string> NotSeen);

/// <summary>How many checkpoints the report knows of, and how.</summary>
/// <param name="Known">All known: stored plus pruned.</param>
/// <param name="Stored">Committed manifests in the store.</param>
/// <param name="Pruned">Known only from a newer manifest's history: no longer stored.</param>
/// <param name="WithoutHistory">Stored, but written before manifests kept a history: step, time and size only.</param>
/// <param name="Unreadable">Manifests that failed verification (not counted in <paramref name="Known"/>).</param>
/// <param name="Uncommitted">Step folders without a manifest (being written, or a crashed writer's leftovers).</param>
/// <param name="Omitted">Records older manifests dropped to stay small.</param>
/// <param name="ByReason">Known checkpoints by reason (periodic, risk, emergency, final, manual, unknown).</param>
internal sealed record CheckpointCounts(int Known, int Stored, int Pruned, int WithoutHistory, int Unreadable, int Uncommitted, long Omitted, IReadOnlyDictionary<string, int> ByReason);

/// <summary>One process that trained the run.</summary>
/// <param name="Id">The attempt id.</param>
/// <param name="ProcessStartUtc">When the process started.</param>
/// <param name="ResumedFromStep">The step it resumed from; null for a fresh start.</param>
/// <param name="LastStep">The last step it committed; null when it committed none that is known.</param>
/// <param name="LastCommitUtc">When it committed that step.</param>
/// <param name="Checkpoints">Checkpoints it committed (known).</param>
/// <param name="Ended"><c>completed</c>, <c>notice</c> (emergency checkpoint after a notice), <c>stopped</c> (a manual last checkpoint), <c>unannounced</c> (no notice: crash or kill) or <c>latest</c> (the newest attempt, still running or stopped).</param>
/// <param name="BilledHours">From its process start to its last commit.</param>
/// <param name="InstanceType">The machine type, when recorded.</param>
/// <param name="Region">The region, when recorded.</param>
/// <param name="Zone">The zone, when recorded.</param>
internal sealed record AttemptSummary(string Id, DateTimeOffset ProcessStartUtc, long? ResumedFromStep, long? LastStep, DateTimeOffset? LastCommitUtc, int Checkpoints,
    string Ended, double BilledHours, string? InstanceType, string? Region, string? Zone);

/// <summary>One checkpoint.</summary>
/// <param name="Step">Its step.</param>
/// <param name="Attempt">The attempt that wrote it; empty when unknown.</param>
/// <param name="Reason">periodic, risk, emergency, final, manual, or unknown (no history).</param>
/// <param name="CommittedUtc">When it was committed.</param>
/// <param name="StallSeconds">Training blocked by its snapshot; null when unknown.</param>
/// <param name="DeviceStallSeconds">Until the device copies landed; null when not measured.</param>
/// <param name="PersistSeconds">Snapshot end to manifest write; null when unknown.</param>
/// <param name="Bytes">Shard bytes.</param>
/// <param name="Status"><c>stored</c> or <c>pruned</c>.</param>
/// <param name="NoticeProvider">The provider of the notice that caused it, if any.</param>
internal sealed record CheckpointPoint(long Step, string Attempt, string Reason, DateTimeOffset CommittedUtc, double? StallSeconds, double? DeviceStallSeconds,
    double? PersistSeconds, long Bytes, string Status, string? NoticeProvider);

/// <summary>One interruption: an attempt that ended before the run was done, and the resume that followed.</summary>
/// <param name="Attempt">The attempt interrupted.</param>
/// <param name="ResumedBy">The attempt that resumed the run.</param>
/// <param name="Kind"><c>notice</c> (announced; an emergency checkpoint was committed) or <c>unannounced</c>.</param>
/// <param name="Provider">Who gave the notice.</param>
/// <param name="Action">The provider's word for it.</param>
/// <param name="NoticeSeenUtc">When the notice was seen.</param>
/// <param name="DeadlineUtc">The notice's deadline.</param>
/// <param name="LastCommitUtc">The interrupted attempt's last commit.</param>
/// <param name="LastStep">The last step the interrupted attempt is known to have reached.</param>
/// <param name="ResumedFromStep">The step the next attempt resumed from.</param>
/// <param name="StepsLost">Steps trained but not resumed: <paramref name="LastStep"/> − <paramref name="ResumedFromStep"/>.</param>
/// <param name="StepsLostExact">False when the attempt ended without a notice: steps after its last checkpoint are not known, so the loss is at least this.</param>
/// <param name="LostWorkSeconds">Steps lost × seconds per step.</param>
/// <param name="DowntimeSeconds">From the last commit to the next process start.</param>
internal sealed record InterruptionSummary(string Attempt, string ResumedBy, string Kind, string? Provider, string? Action, DateTimeOffset? NoticeSeenUtc, DateTimeOffset? DeadlineUtc,
    DateTimeOffset? LastCommitUtc, long LastStep, long ResumedFromStep, long StepsLost, bool StepsLostExact, double LostWorkSeconds, double DowntimeSeconds);

/// <summary>What the run cost on spot, against the same work on demand.</summary>
/// <param name="PriceSource"><c>manifest</c> or <c>command line</c>.</param>
/// <param name="Currency">The currency, when known.</param>
/// <param name="OnDemandPerHour">On-demand price per hour.</param>
/// <param name="SpotPerHour">Spot price per hour.</param>
/// <param name="BilledHours">Σ over attempts of process start → last commit.</param>
/// <param name="UsefulHours">Final step × seconds per step: the training kept.</param>
/// <param name="CheckpointStallHours">Σ stalls.</param>
/// <param name="LostWorkHours">Σ lost work of the interruptions.</param>
/// <param name="StartupHours">The rest of the waste: start-up, restore and restarts.</param>
/// <param name="WastedFraction">1 − useful / billed.</param>
/// <param name="SpotCost">Spot price × billed hours.</param>
/// <param name="OnDemandCost">On-demand price × useful hours.</param>
/// <param name="Savings">On-demand cost − spot cost.</param>
/// <param name="InterruptionOverheadCost">Spot price × (lost work + start-up hours).</param>
/// <param name="EffectiveHourlyRate">Spot cost / useful hours.</param>
/// <param name="SpotCostPer1000Steps">Spot cost / final step × 1000.</param>
/// <param name="OnDemandCostPer1000Steps">On-demand cost / final step × 1000.</param>
/// <param name="ProjectedMonthlySavings">(On-demand price − effective rate) × 730 h.</param>
internal sealed record CostSummary(string PriceSource, string? Currency, double OnDemandPerHour, double SpotPerHour, double BilledHours, double UsefulHours,
    double CheckpointStallHours, double LostWorkHours, double StartupHours, double WastedFraction, double SpotCost, double OnDemandCost, double Savings,
    double InterruptionOverheadCost, double EffectiveHourlyRate, double SpotCostPer1000Steps, double OnDemandCostPer1000Steps, double ProjectedMonthlySavings);
