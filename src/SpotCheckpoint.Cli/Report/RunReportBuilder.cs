using SpotCheckpoint.Cli.Stores;
using SpotCheckpoint.Format;
using SpotCheckpoint.Scheduling.Simulation;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Report;

/// <summary>Prices given on the command line; each overrides what the manifests recorded.</summary>
internal sealed record PriceOverride(double? OnDemandPerHour, double? SpotPerHour, string? Currency);

/// <summary>
/// Computes a <see cref="RunReport"/> from the manifests of one run: the union of every stored manifest's history
/// (each carries its lineage, so pruned checkpoints are still known), checked against what is still stored.
/// </summary>
internal static class RunReportBuilder
{
    public static async Task<RunReport> BuildAsync(ICheckpointStore store, RunLocation run, PriceOverride prices, CancellationToken cancellationToken)
    {
        var folders = await StoreScan.StepFoldersAsync(store, run.RunId, cancellationToken).ConfigureAwait(false);
        var manifests = new List<CheckpointManifest>();
        var unreadable = new List<string>();
        foreach (var folder in folders.Where(f => f.Committed).OrderBy(f => f.Step))
        {
            try
            {
                manifests.Add((await CheckpointReader.OpenAsync(store, run.RunId, folder.Step, cancellationToken).ConfigureAwait(false)).Manifest);
            }
            catch (CheckpointCorruptException ex)
            {
                unreadable.Add($"step {folder.Step}: {ex.Message}");
            }
        }
        if (manifests.Count == 0 && unreadable.Count == 0)
            throw new CheckpointStoreException($"No committed checkpoint of run '{run.RunId}' in {store.Description}.");
        return Build(run, manifests, unreadable, folders.Count(f => !f.Committed), prices);
    }

    public static RunReport Build(RunLocation run, IReadOnlyList<CheckpointManifest> manifests, IReadOnlyList<string> unreadable, int uncommitted, PriceOverride prices)
    {
        var notSeen = new List<string>();
        var attempts = new Dictionary<string, AttemptRecord>(StringComparer.Ordinal);
        var records = new Dictionary<(long Step, string Attempt), CheckpointRecord>();
        var stored = new HashSet<(long Step, string Attempt)>();
        var points = new List<CheckpointPoint>();
        long omitted = 0;
        int withoutHistory = 0;
        foreach (var m in manifests)
        {
            if (m.History is not { } h || h.Checkpoints.Count == 0)
            {
                withoutHistory++;
                points.Add(new CheckpointPoint(m.Step, "", "unknown", m.CreatedUtc, null, null, null, m.Shards.Sum(s => s.Bytes), "stored", null));
                continue;
            }
            foreach (var a in h.Attempts.Where(a => a is not null)) attempts.TryAdd(a.Id, a);
            foreach (var c in h.Checkpoints.Where(c => c is not null)) records.TryAdd((c.Step, c.Attempt), c);
            var own = h.Checkpoints[^1];
            stored.Add((own.Step, own.Attempt));
            omitted = Math.Max(omitted, h.OmittedCheckpoints);
        }
        points.AddRange(records.Values.Select(c => new CheckpointPoint(c.Step, c.Attempt, c.Reason, c.CommittedUtc, c.StallSeconds, c.DeviceStallSeconds, c.PersistSeconds,
            c.Bytes, stored.Contains((c.Step, c.Attempt)) ? "stored" : "pruned", c.Notice?.Provider)));
        points.Sort((a, b) => a.CommittedUtc != b.CommittedUtc ? a.CommittedUtc.CompareTo(b.CommittedUtc) : a.Step.CompareTo(b.Step));

        var ordered = attempts.Values.OrderBy(a => a.ProcessStartUtc).ThenBy(a => a.StartedUtc).ToList();
        var byAttempt = records.Values.GroupBy(r => r.Attempt).ToDictionary(g => g.Key, g => g.OrderBy(r => r.CommittedUtc).ToList(), StringComparer.Ordinal);
        var summaries = new List<AttemptSummary>();
        for (int i = 0; i < ordered.Count; i++)
        {
            var a = ordered[i];
            var own = byAttempt.GetValueOrDefault(a.Id) ?? new List<CheckpointRecord>();
            var last = own.LastOrDefault();
            string ended = last?.Reason == "final" ? "completed"
                : last?.Notice?.Kind == "termination" ? "notice"
                : i == ordered.Count - 1 ? "latest"
                : last?.Reason == "manual" ? "stopped"
                : "unannounced";
            double billed = last is null ? 0 : Math.Max(0, (last.CommittedUtc - a.ProcessStartUtc).TotalHours);
            summaries.Add(new AttemptSummary(a.Id, a.ProcessStartUtc, a.ResumedFromStep, last?.Step, last?.CommittedUtc, own.Count, ended, billed, a.InstanceType, a.Region, a.Zone));
        }

        double? secondsPerStep = SecondsPerStep(byAttempt.Values);
        var interruptions = new List<InterruptionSummary>();
        for (int i = 0; i + 1 < summaries.Count; i++)
        {
            var a = summaries[i];
            if (a.Ended is not ("notice" or "unannounced")) continue;
            var next = summaries[i + 1];
            var lastRecord = byAttempt.GetValueOrDefault(a.Id)?.LastOrDefault();
            long lastStep = a.LastStep ?? a.ResumedFromStep ?? 0;
            long resumedFrom = next.ResumedFromStep ?? 0;
            long lost = Math.Max(0, lastStep - resumedFrom);
            bool exact = a.Ended == "notice" && lastRecord?.Reason == "emergency";
            var notice = a.Ended == "notice" ? lastRecord?.Notice : null;
            var lastCommit = a.LastCommitUtc ?? a.ProcessStartUtc;
            interruptions.Add(new InterruptionSummary(a.Id, next.Id, a.Ended, notice?.Provider, notice?.Action, notice?.SeenUtc, notice?.DeadlineUtc, a.LastCommitUtc,
                lastStep, resumedFrom, lost, exact, lost * (secondsPerStep ?? 0), Math.Max(0, (next.ProcessStartUtc - lastCommit).TotalSeconds)));
            if (!exact) notSeen.Add($"attempt {a.Id} ended without a notice after step {lastStep}: steps it trained after that checkpoint are not recorded anywhere, so its loss is a lower bound.");
        }

        long finalStep = manifests.Count > 0 ? manifests.Max(m => m.Step) : 0;
        var newest = points.Where(p => p.Step == finalStep).OrderBy(p => p.CommittedUtc).LastOrDefault();
        bool completed = newest?.Reason == "final";
        long firstStep = ordered.FirstOrDefault()?.ResumedFromStep ?? 0;
        var cost = Cost(summaries, ordered, records.Values, interruptions, finalStep - firstStep, secondsPerStep, prices, notSeen);

        int pruned = points.Count(p => p.Status == "pruned");
        if (pruned > 0) notSeen.Add($"{pruned} checkpoint(s) are no longer stored (pruned by retention or spotckpt prune); they are known from the history of newer manifests.");
        if (withoutHistory > 0) notSeen.Add($"{withoutHistory} checkpoint(s) were written by a version that records no history: only their step, time and size are known.");
        if (omitted > 0) notSeen.Add($"the oldest {omitted} checkpoint record(s) were dropped from the history to keep manifests small.");
        foreach (var u in unreadable) notSeen.Add($"unreadable manifest, left out: {u}");
        if (uncommitted > 0) notSeen.Add($"{uncommitted} step folder(s) hold no manifest (being written, or left by a crashed writer); they are not counted.");
        if (firstStep > 0) notSeen.Add($"the history starts at step {firstStep}: earlier training left no record.");

        var counts = new CheckpointCounts(points.Count, points.Count(p => p.Status == "stored"), pruned, withoutHistory, unreadable.Count, uncommitted, omitted,
            points.GroupBy(p => p.Reason).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal));
        return new RunReport(run.ToString(), run.RunId, finalStep, completed, counts, summaries, points, interruptions, secondsPerStep, cost, notSeen);
    }

    /// <summary>Σ (time between consecutive checkpoints of one attempt − the later one's stall) / Σ steps between them.</summary>
    private static double? SecondsPerStep(IEnumerable<List<CheckpointRecord>> attempts)
    {
        double seconds = 0;
        long steps = 0;
        foreach (var own in attempts)
        {
            for (int i = 1; i < own.Count; i++)
            {
                long ds = own[i].Step - own[i - 1].Step;
                double dt = (own[i].CommittedUtc - own[i - 1].CommittedUtc).TotalSeconds - own[i].StallSeconds;
                if (ds <= 0 || dt <= 0) continue;
                seconds += dt;
                steps += ds;
            }
        }
        return steps > 0 ? seconds / steps : null;
    }

    private static CostSummary? Cost(List<AttemptSummary> summaries, List<AttemptRecord> attempts, IEnumerable<CheckpointRecord> records, List<InterruptionSummary> interruptions,
        long trainedSteps, double? secondsPerStep, PriceOverride prices, List<string> notSeen)
    {
        var recorded = attempts.LastOrDefault(a => a.Prices is { OnDemandPerHour: not null, SpotPerHour: not null })?.Prices;
        double? onDemand = prices.OnDemandPerHour ?? recorded?.OnDemandPerHour;
        double? spot = prices.SpotPerHour ?? recorded?.SpotPerHour;
        if (onDemand is not { } od || spot is not { } sp)
        {
            notSeen.Add("no prices were recorded or given: pass --on-demand-price and --spot-price for the cost view.");
            return null;
        }
        string source = prices.OnDemandPerHour is null && prices.SpotPerHour is null ? "manifest" : "command line";
        double billed = summaries.Sum(s => s.BilledHours);
        double stall = records.Sum(r => r.StallSeconds) / 3600;
        double lost = interruptions.Sum(i => i.LostWorkSeconds) / 3600;
        double useful = secondsPerStep is { } s ? trainedSteps * s / 3600 : billed - stall - lost;
        useful = Math.Clamp(useful, 0, billed);
        double startup = Math.Max(0, billed - useful - stall - lost);
        double spotCost = sp * billed;
        double onDemandCost = od * useful;
        double effective = useful > 0 ? spotCost / useful : 0;
        return new CostSummary(source, prices.Currency ?? recorded?.Currency, od, sp, billed, useful, stall, lost, startup,
            billed > 0 ? 1 - useful / billed : 0, spotCost, onDemandCost, onDemandCost - spotCost, sp * (lost + startup), effective,
            trainedSteps > 0 ? spotCost / trainedSteps * 1000 : 0, trainedSteps > 0 ? onDemandCost / trainedSteps * 1000 : 0,
            (od - effective) * CostView.HoursPerMonth);
    }
}
