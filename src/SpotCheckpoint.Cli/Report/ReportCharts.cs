using ScottPlot;

namespace SpotCheckpoint.Cli.Report;

/// <summary>One chart of a report: a title for the page, and the SVG that draws it.</summary>
internal sealed record Chart(string Id, string Title, string Svg);

/// <summary>
/// Draws a report's charts as SVG with ScottPlot (its Skia backend ships its own native library, so nothing needs
/// installing). Solid lines only: the SVG backend cannot express dash patterns.
/// </summary>
internal static class ReportCharts
{
    public const int Width = 900;
    public const int Height = 360;

    private static readonly Dictionary<string, Color> ReasonColors = new(StringComparer.Ordinal)
    {
        ["periodic"] = Colors.SteelBlue,
        ["risk"] = Colors.Orange,
        ["emergency"] = Colors.Crimson,
        ["final"] = Colors.SeaGreen,
        ["manual"] = Colors.MediumPurple,
        ["unknown"] = Colors.Gray,
    };

    public static IReadOnlyList<Chart> ForRun(RunReport report)
    {
        var charts = new List<Chart> { Progress(report), Losses(report), Size(report), Timings(report) };
        if (report.Cost is { } cost) charts.Add(CostBars(cost));
        return charts;
    }

    /// <summary>Hours since the first process start.</summary>
    private static double Hours(RunReport report, DateTimeOffset t)
    {
        var origin = report.Attempts.Count > 0 ? report.Attempts[0].ProcessStartUtc : report.Timeline.Count > 0 ? report.Timeline[0].CommittedUtc : t;
        return (t - origin).TotalHours;
    }

    private static Chart Progress(RunReport report)
    {
        var plot = NewPlot("Training progress over wall time", "hours since the first start", "step");
        foreach (var attempt in report.Attempts)
        {
            var own = report.Timeline.Where(p => p.Attempt == attempt.Id).OrderBy(p => p.CommittedUtc).ToList();
            var xs = new List<double> { Hours(report, attempt.ProcessStartUtc) };
            var ys = new List<double> { attempt.ResumedFromStep ?? 0 };
            xs.AddRange(own.Select(p => Hours(report, p.CommittedUtc)));
            ys.AddRange(own.Select(p => (double)p.Step));
            var line = plot.Add.Scatter(xs.ToArray(), ys.ToArray());
            line.MarkerSize = 0;
            line.LineWidth = 2;
            line.Color = Colors.Gray;
        }
        foreach (var group in report.Timeline.GroupBy(p => p.Reason))
        {
            var points = plot.Add.ScatterPoints(group.Select(p => Hours(report, p.CommittedUtc)).ToArray(), group.Select(p => (double)p.Step).ToArray());
            points.MarkerShape = MarkerShape.FilledCircle;
            points.MarkerSize = 8;
            points.Color = ReasonColors.GetValueOrDefault(group.Key, Colors.Black);
            points.LegendText = $"{group.Key} checkpoint";
        }
        var pruned = report.Timeline.Where(p => p.Status == "pruned").ToList();
        if (pruned.Count > 0)
        {
            var hollow = plot.Add.ScatterPoints(pruned.Select(p => Hours(report, p.CommittedUtc)).ToArray(), pruned.Select(p => (double)p.Step).ToArray());
            hollow.MarkerShape = MarkerShape.OpenSquare;
            hollow.MarkerSize = 14;
            hollow.Color = Colors.Black;
            hollow.LegendText = "pruned (from history)";
        }
        bool first = true;
        foreach (var i in report.Interruptions)
        {
            var at = i.NoticeSeenUtc ?? i.LastCommitUtc;
            if (at is null) continue;
            var line = plot.Add.VerticalLine(Hours(report, at.Value));
            line.Color = Colors.Crimson;
            line.LineWidth = 1.5f;
            if (first) line.LegendText = "interruption";
            first = false;
        }
        first = true;
        foreach (var a in report.Attempts.Where(a => a.ResumedFromStep is not null))
        {
            var line = plot.Add.VerticalLine(Hours(report, a.ProcessStartUtc));
            line.Color = Colors.SeaGreen;
            line.LineWidth = 1.5f;
            if (first) line.LegendText = "resume";
            first = false;
        }
        plot.ShowLegend(Alignment.UpperLeft);
        return Render("progress", "Training progress over wall time: checkpoints, interruptions and resumes", plot);
    }

    private static Chart Losses(RunReport report)
    {
        var plot = NewPlot("Lost steps and lost time per interruption", "interruption", "steps lost");
        if (report.Interruptions.Count == 0)
        {
            plot.Add.Bars(new[] { 0.0 });
            plot.Axes.Bottom.SetTicks([0], ["none"]);
            plot.Add.Text("no interruptions", 0, 0.5);
            plot.Axes.SetLimitsY(0, 1);
        }
        else
        {
            var positions = Enumerable.Range(0, report.Interruptions.Count).Select(i => (double)i).ToArray();
            var steps = plot.Add.Bars(positions.Select(p => p - 0.2).ToArray(), report.Interruptions.Select(i => (double)i.StepsLost).ToArray());
            steps.Color = Colors.Crimson;
            steps.LegendText = "steps lost";
            foreach (var bar in steps.Bars) bar.Size = 0.35;
            var time = plot.Add.Bars(positions.Select(p => p + 0.2).ToArray(), report.Interruptions.Select(i => (i.LostWorkSeconds + i.DowntimeSeconds) / 60).ToArray());
            time.Color = Colors.Orange;
            time.LegendText = "lost work + downtime (minutes, right axis)";
            time.Axes.YAxis = plot.Axes.Right;
            foreach (var bar in time.Bars) bar.Size = 0.35;
            plot.Axes.Right.Label.Text = "minutes";
            plot.Axes.Bottom.SetTicks(positions, report.Interruptions.Select((i, n) => $"#{n + 1} {i.Kind}{(i.Provider is null ? "" : " (" + i.Provider + ")")}").ToArray());
            plot.Axes.SetLimitsY(0, Math.Max(1, report.Interruptions.Max(i => i.StepsLost)) * 1.25, plot.Axes.Left);
            plot.Axes.SetLimitsY(0, Math.Max(1, report.Interruptions.Max(i => (i.LostWorkSeconds + i.DowntimeSeconds) / 60)) * 1.25, plot.Axes.Right);
            plot.ShowLegend(Alignment.UpperRight);
        }
        return Render("losses", "Lost steps and lost time per interruption", plot);
    }

    private static Chart Size(RunReport report)
    {
        var plot = NewPlot("Checkpoint size", "hours since the first start", "MiB");
        var line = plot.Add.Scatter(report.Timeline.Select(p => Hours(report, p.CommittedUtc)).ToArray(), report.Timeline.Select(p => p.Bytes / 1048576.0).ToArray());
        line.Color = Colors.SteelBlue;
        line.MarkerSize = 6;
        line.LegendText = "shard bytes";
        // From zero: a size that barely changes should look flat, not like a cliff.
        plot.Axes.SetLimitsY(0, Math.Max(1e-3, report.Timeline.Select(p => p.Bytes / 1048576.0).DefaultIfEmpty(0).Max()) * 1.2);
        plot.ShowLegend(Alignment.LowerRight);
        return Render("size", "Checkpoint size over time", plot);
    }

    private static Chart Timings(RunReport report)
    {
        var plot = NewPlot("Stall and persist per checkpoint", "hours since the first start", "milliseconds");
        var known = report.Timeline.Where(p => p.StallSeconds is not null).ToList();
        var xs = known.Select(p => Hours(report, p.CommittedUtc)).ToArray();
        var persist = plot.Add.Scatter(xs, known.Select(p => p.PersistSeconds!.Value * 1000).ToArray());
        persist.Color = Colors.Orange;
        persist.MarkerSize = 6;
        persist.LegendText = "persist (background)";
        var stall = plot.Add.Scatter(xs, known.Select(p => p.StallSeconds!.Value * 1000).ToArray());
        stall.Color = Colors.Crimson;
        stall.MarkerSize = 6;
        stall.LegendText = "stall (training blocked)";
        var device = known.Where(p => p.DeviceStallSeconds is not null).ToList();
        if (device.Count > 0)
        {
            var d = plot.Add.Scatter(device.Select(p => Hours(report, p.CommittedUtc)).ToArray(), device.Select(p => p.DeviceStallSeconds!.Value * 1000).ToArray());
            d.Color = Colors.MediumPurple;
            d.MarkerSize = 6;
            d.LegendText = "device copies landed";
        }
        if (known.Count == 0) plot.Add.Text("no timings recorded", 0, 0);
        double top = known.SelectMany(p => new[] { p.StallSeconds!.Value, p.PersistSeconds ?? 0, p.DeviceStallSeconds ?? 0 }).DefaultIfEmpty(0).Max() * 1000;
        plot.Axes.SetLimitsY(0, Math.Max(1, top) * 1.15);
        plot.ShowLegend(Alignment.UpperLeft);
        return Render("timings", "Checkpoint stall and persist over time", plot);
    }

    private static Chart CostBars(CostSummary cost)
    {
        var plot = NewPlot($"Price per hour{(cost.Currency is null ? "" : " (" + cost.Currency + ")")}", "", "per hour");
        double[] values = [cost.OnDemandPerHour, cost.SpotPerHour, cost.EffectiveHourlyRate];
        Color[] colors = [Colors.Gray, Colors.SteelBlue, Colors.SeaGreen];
        for (int i = 0; i < values.Length; i++)
        {
            var bar = plot.Add.Bar(i, values[i]);
            bar.Color = colors[i];
        }
        plot.Axes.Bottom.SetTicks([0, 1, 2], ["on-demand", "spot", "effective spot (waste included)"]);
        plot.Axes.Margins(bottom: 0);
        return Render("cost", "On-demand against spot: the effective hourly rate", plot);
    }

    public static Plot NewPlot(string title, string x, string y)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.Axes.Bottom.Label.Text = x;
        plot.Axes.Left.Label.Text = y;
        return plot;
    }

    public static Chart Render(string id, string title, Plot plot)
    {
        var svg = plot.GetSvgXml(Width, Height);
        // Inline SVG: the XML declaration is not allowed inside HTML.
        if (svg.StartsWith("<?xml", StringComparison.Ordinal)) svg = svg[(svg.IndexOf("?>", StringComparison.Ordinal) + 2)..].TrimStart();
        return new Chart(id, title, svg);
    }
}
