using System.Globalization;
using ScottPlot;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Scheduling.Simulation;

namespace SpotCheckpoint.Cli.Report;

/// <summary>
/// <c>spotckpt simulate --output sim.html</c>: the waste of a fixed checkpoint interval swept around Daly's optimum,
/// each policy of the simulation placed on that curve at its mean interval, the best interval marked, and the cost
/// view per policy. The sweep replays the same interruptions as the policies (one simulator run).
/// </summary>
internal static class SimulationReportWriter
{
    /// <summary>Intervals swept, log-spaced from 1/8 to 8 times Daly's optimum.</summary>
    private const int SweepPoints = 15;

    public static string Html(SimulationReport report, SimulationOptions options, CancellationToken cancellationToken)
    {
        var c = CultureInfo.InvariantCulture;
        double optimum = Math.Max(report.YoungDalyIntervalSeconds, 1e-3);
        var intervals = Enumerable.Range(0, SweepPoints).Select(i => optimum * Math.Pow(2, -3 + 6.0 * i / (SweepPoints - 1))).ToArray();
        var sweep = CheckpointSimulator.Run(options,
            intervals.Select(s => new SimulatedPolicy($"sweep-{s.ToString("0.###", c)}s", _ => CheckpointPolicy.Every(TimeSpan.FromSeconds(s)))),
            cancellationToken);
        var waste = sweep.Policies.Select(p => p.WastedFraction * 100).ToArray();
        int best = Array.IndexOf(waste, waste.Min());

        var plot = ReportCharts.NewPlot("Waste against checkpoint interval", "checkpoint interval (minutes)", "wasted GPU time (%)");
        var curve = plot.Add.Scatter(intervals.Select(s => s / 60).ToArray(), waste);
        curve.Color = Colors.Gray;
        curve.MarkerSize = 5;
        curve.LegendText = "fixed interval (sweep)";
        var bestPoint = plot.Add.ScatterPoints(new[] { intervals[best] / 60 }, new[] { waste[best] });
        bestPoint.MarkerShape = MarkerShape.FilledDiamond;
        bestPoint.MarkerSize = 14;
        bestPoint.Color = Colors.SeaGreen;
        bestPoint.LegendText = $"best of the sweep: {(intervals[best] / 60).ToString("0.#", c)} min";
        var daly = plot.Add.VerticalLine(optimum / 60);
        daly.Color = Colors.SeaGreen;
        daly.LegendText = $"Young/Daly optimum: {(optimum / 60).ToString("0.#", c)} min";
        Color[] palette = [Colors.Crimson, Colors.SteelBlue, Colors.Orange, Colors.MediumPurple, Colors.Brown, Colors.Teal];
        int n = 0;
        foreach (var p in report.Policies.Where(p => p.MeanIntervalSeconds > 0))
        {
            var point = plot.Add.ScatterPoints(new[] { p.MeanIntervalSeconds / 60 }, new[] { p.WastedFraction * 100 });
            point.MarkerShape = MarkerShape.FilledCircle;
            point.MarkerSize = 10;
            point.Color = palette[n++ % palette.Length];
            point.LegendText = $"{p.Name}: {p.WastedFraction.ToString("P1", c)}";
        }
        plot.Axes.SetLimitsY(0, waste.Concat(report.Policies.Where(p => p.MeanIntervalSeconds > 0).Select(p => p.WastedFraction * 100)).Max() * 1.15);
        plot.ShowLegend(Alignment.UpperRight);
        var charts = new List<Chart> { ReportCharts.Render("waste", "Waste against checkpoint interval; policies at their mean interval, the optimum marked", plot) };

        var cost = ReportCharts.NewPlot("Effective hourly rate per policy", "", "per hour");
        var bars = new List<(string Label, double Value, Color Color)> { ("on-demand", report.OnDemandPricePerHour, Colors.Gray), ("spot (no waste)", report.SpotPricePerHour, Colors.SteelBlue) };
        bars.AddRange(report.Policies.Where(p => !double.IsInfinity(p.Cost.EffectiveHourlyRate)).Select(p => (p.Name, p.Cost.EffectiveHourlyRate, Colors.SeaGreen)));
        for (int i = 0; i < bars.Count; i++) cost.Add.Bar(i, bars[i].Value).Color = bars[i].Color;
        cost.Axes.Bottom.SetTicks(Enumerable.Range(0, bars.Count).Select(i => (double)i).ToArray(), bars.Select(b => b.Label).ToArray());
        cost.Axes.Margins(bottom: 0);
        charts.Add(ReportCharts.Render("cost", "The cost view: effective spot rate per policy against on-demand", cost));

        var cards = new List<(string, string)>
        {
            ("interruptions per hour", report.HazardPerHour.ToString("P2", c)),
            ("Young/Daly interval", (optimum / 60).ToString("0.0", c) + " min"),
            ("best swept interval", (intervals[best] / 60).ToString("0.0", c) + " min"),
            ("runs × hours", $"{report.Runs} × {report.HoursPerRun.ToString("0.##", c)}"),
        };
        var rows = report.Policies.Select(p => new[]
        {
            p.Name, p.WastedFraction.ToString("P2", c), ReportHtml.N(p.MeanIntervalSeconds / 60, "0.0"), ReportHtml.N(p.InterruptionsPerRun, "0.00"),
            ReportHtml.N(p.StepsLostPerInterruption, "0.#"), ReportHtml.N(p.Cost.EffectiveHourlyRate, "0.0000"), ReportHtml.N(p.Cost.InterruptionOverheadPerHour, "0.0000"),
            ReportHtml.N(p.Cost.MonthlySavings, "0.00"),
        });
        var tables = new List<(string, string[], IEnumerable<string[]>)>
        {
            ("Policies", ["policy", "wasted", "mean interval min", "interruptions/run", "steps lost/intr.", "effective /h", "overhead /h", "savings /month"], rows),
            ("Sweep", ["interval min", "wasted"], intervals.Select((s, i) => new[] { ReportHtml.N(s / 60, "0.0"), (waste[i] / 100).ToString("P2", c) })),
        };
        string subtitle = string.Create(c, $"{report.Runs} simulated runs of {report.HoursPerRun:0.##} h, checkpoint cost {report.CheckpointCostSeconds:0.###} s, prices on-demand {report.OnDemandPricePerHour:0.####} / spot {report.SpotPricePerHour:0.####} per hour");
        return ReportHtml.Page("SpotCheckpoint simulation", subtitle, cards, [], charts, tables);
    }
}
