using System.Globalization;

namespace SpotCheckpoint.Cli.Report;

/// <summary>Writes a <see cref="RunReport"/> as one self-contained HTML page.</summary>
internal static class RunReportWriter
{
    public static string Html(RunReport r)
    {
        var c = CultureInfo.InvariantCulture;
        var cost = r.Cost;
        var cards = new List<(string, string)>
        {
            ("final step" + (r.Completed ? " (completed)" : ""), r.FinalStep.ToString(c)),
            ("checkpoints known (stored / pruned)", $"{r.Checkpoints.Known} ({r.Checkpoints.Stored} / {r.Checkpoints.Pruned})"),
            ("attempts (processes)", r.Attempts.Count.ToString(c)),
            ("interruptions", r.Interruptions.Count.ToString(c)),
            ("steps lost to interruptions", r.Interruptions.Sum(i => i.StepsLost).ToString(c) + (r.Interruptions.All(i => i.StepsLostExact) ? "" : "+")),
        };
        if (cost is not null)
        {
            cards.Add(("spot cost (billed hours × spot price)", ReportHtml.Money(cost.SpotCost, cost.Currency)));
            cards.Add(("effective hourly rate", ReportHtml.Money(cost.EffectiveHourlyRate, cost.Currency)));
            cards.Add(("cost per 1,000 steps", ReportHtml.Money(cost.SpotCostPer1000Steps, cost.Currency)));
            cards.Add(("projected monthly savings", ReportHtml.Money(cost.ProjectedMonthlySavings, cost.Currency)));
            cards.Add(("wasted share of billed time", cost.WastedFraction.ToString("P1", c)));
        }

        var tables = new List<(string, string[], IEnumerable<string[]>)>();
        if (cost is not null)
        {
            string m(double v) => ReportHtml.Money(v, cost.Currency);
            tables.Add(("Cost view (prices from the " + cost.PriceSource + ")", ["", "value"], new[]
            {
                new[] { "on-demand price per hour", m(cost.OnDemandPerHour) },
                ["spot price per hour", m(cost.SpotPerHour)],
                ["billed hours (process start to last commit, every attempt)", ReportHtml.N(cost.BilledHours, "0.0000")],
                ["useful hours (kept training)", ReportHtml.N(cost.UsefulHours, "0.0000")],
                ["of the waste: checkpoint stalls (h)", ReportHtml.N(cost.CheckpointStallHours, "0.0000")],
                ["of the waste: work lost to interruptions (h)", ReportHtml.N(cost.LostWorkHours, "0.0000")],
                ["of the waste: start-up, restore and restarts (h)", ReportHtml.N(cost.StartupHours, "0.0000")],
                ["spot cost", m(cost.SpotCost)],
                ["the same work on demand", m(cost.OnDemandCost)],
                ["saved", m(cost.Savings)],
                ["interruption overhead (spot price × lost and restart hours)", m(cost.InterruptionOverheadCost)],
                ["effective hourly rate (spot cost / useful hours)", m(cost.EffectiveHourlyRate)],
                ["cost per 1,000 steps, spot / on demand", $"{m(cost.SpotCostPer1000Steps)} / {m(cost.OnDemandCostPer1000Steps)}"],
                ["projected monthly savings ((on-demand − effective) × 730 h)", m(cost.ProjectedMonthlySavings)],
            }));
        }
        tables.Add(("Interruptions", ["#", "kind", "notice", "last step", "resumed from", "steps lost", "lost work s", "downtime s"],
            r.Interruptions.Select((i, n) => new[]
            {
                (n + 1).ToString(c), i.Kind, i.Provider is null ? "-" : $"{i.Provider} {i.Action}", i.LastStep.ToString(c), i.ResumedFromStep.ToString(c),
                i.StepsLost.ToString(c) + (i.StepsLostExact ? "" : " (at least)"), ReportHtml.N(i.LostWorkSeconds, "0.0"), ReportHtml.N(i.DowntimeSeconds, "0.0"),
            })));
        tables.Add(("Attempts", ["attempt", "process start (UTC)", "resumed from", "last step", "checkpoints", "ended", "billed h", "machine"],
            r.Attempts.Select(a => new[]
            {
                a.Id, a.ProcessStartUtc.ToString("yyyy-MM-dd HH:mm:ss", c), a.ResumedFromStep?.ToString(c) ?? "fresh", a.LastStep?.ToString(c) ?? "-",
                a.Checkpoints.ToString(c), a.Ended, ReportHtml.N(a.BilledHours, "0.0000"),
                string.Join(" ", new[] { a.InstanceType, a.Region, a.Zone }.Where(x => x is not null)) is { Length: > 0 } machine ? machine : "-",
            })));
        tables.Add(("Checkpoints", ["step", "committed (UTC)", "reason", "status", "size MiB", "stall ms", "persist ms", "attempt"],
            r.Timeline.Select(p => new[]
            {
                p.Step.ToString(c), p.CommittedUtc.ToString("yyyy-MM-dd HH:mm:ss.fff", c), p.Reason + (p.NoticeProvider is null ? "" : $" ({p.NoticeProvider})"), p.Status,
                ReportHtml.N(p.Bytes / 1048576.0, "0.00"), p.StallSeconds is { } s ? ReportHtml.N(s * 1000, "0.0") : "-",
                p.PersistSeconds is { } ps ? ReportHtml.N(ps * 1000, "0.0") : "-", p.Attempt.Length > 0 ? p.Attempt : "-",
            })));
        string subtitle = $"{r.Location}: {r.Checkpoints.Known} checkpoint(s), {r.Attempts.Count} attempt(s)" +
            (r.SecondsPerStep is { } sps ? $", {ReportHtml.N(sps * 1000, "0.0")} ms per step" : "") + (r.Completed ? ", completed" : "");
        return ReportHtml.Page($"SpotCheckpoint run report: {r.RunId}", subtitle, cards, r.NotSeen, ReportCharts.ForRun(r), tables);
    }
}
