using System.Diagnostics.Metrics;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using SpotCheckpoint.Diagnostics;

namespace SpotCheckpoint.Cli.Tests;

/// <summary>
/// docs/grafana/spotcheckpoint-dashboard.json queries only series the SpotCheckpoint meter produces, under the names
/// they get in Prometheus (through the OpenTelemetry Prometheus exporter or an OTLP collector): dots become
/// underscores, the unit becomes a suffix (s → _seconds, By → _bytes, By/s → _bytes_per_second; annotations in
/// braces such as {checkpoint} are dropped; a suffix already there is not repeated), counters end in _total, and a
/// histogram is its _bucket, _sum and _count series.
/// </summary>
public sealed partial class GrafanaDashboardTests
{
    private static readonly string RepositoryRoot = Path.GetFullPath(Path.Combine(
        typeof(GrafanaDashboardTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "EmulatorsDirectory").Value!, "..", ".."));

    [Test]
    public void Every_metric_the_dashboard_queries_is_one_the_meter_emits_under_its_exported_name()
    {
        var exported = ExportedSeries();
        Assert.That(exported, Does.Contain("spotcheckpoint_checkpoint_stall_duration_seconds_bucket"), "the naming rules are applied");

        var dashboard = File.ReadAllText(Path.Combine(RepositoryRoot, "docs", "grafana", "spotcheckpoint-dashboard.json"));
        var queries = new List<string>();
        Collect(JsonDocument.Parse(dashboard).RootElement, queries);
        // Metric names only: label matchers {…} and by (…) / without (…) clauses name tags, not series.
        var queried = queries.Select(q => Grouping().Replace(Selector().Replace(q, ""), ""))
            .SelectMany(q => MetricName().Matches(q).Select(m => m.Value)).ToHashSet(StringComparer.Ordinal);

        Assert.That(queried, Is.Not.Empty);
        Assert.That(queried.Except(exported), Is.Empty, "queried series the meter does not emit");
        // Every instrument is on the dashboard somewhere.
        var instruments = Instruments().Select(i => PrometheusName(i.Name, i.Unit, i.Kind)).ToList();
        Assert.That(instruments.Where(name => !queried.Any(q => q.StartsWith(name, StringComparison.Ordinal))), Is.Empty, "instruments missing from the dashboard");
    }

    [TestCase("spotcheckpoint.checkpoint.bytes", "By", "counter", ExpectedResult = "spotcheckpoint_checkpoint_bytes_total")]
    [TestCase("spotcheckpoint.checkpoint.persist.throughput", "By/s", "histogram", ExpectedResult = "spotcheckpoint_checkpoint_persist_throughput_bytes_per_second")]
    [TestCase("spotcheckpoint.checkpoint.committed", "{checkpoint}", "counter", ExpectedResult = "spotcheckpoint_checkpoint_committed_total")]
    [TestCase("spotcheckpoint.cost.savings", "{currency}", "gauge", ExpectedResult = "spotcheckpoint_cost_savings")]
    public string Names_follow_the_exporter_rules(string name, string unit, string kind) => PrometheusName(name, unit, kind);

    private static HashSet<string> ExportedSeries()
    {
        var series = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, unit, kind) in Instruments())
        {
            var exported = PrometheusName(name, unit, kind);
            if (kind == "histogram") series.UnionWith([exported + "_bucket", exported + "_sum", exported + "_count"]);
            else series.Add(exported);
        }
        return series;
    }

    /// <summary>The meter's instruments, as a listener sees them published.</summary>
    private static List<(string Name, string? Unit, string Kind)> Instruments()
    {
        var found = new List<(string, string?, string)>();
        using var metrics = new SpotCheckpointMetrics();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, _) =>
        {
            if (!ReferenceEquals(instrument.Meter, metrics.Meter)) return;
            var type = instrument.GetType().GetGenericTypeDefinition();
            string kind = type == typeof(Counter<>) || type == typeof(ObservableCounter<>) ? "counter"
                : type == typeof(Histogram<>) ? "histogram"
                : "gauge";
            found.Add((instrument.Name, instrument.Unit, kind));
        };
        listener.Start();
        Assert.That(found, Has.Count.GreaterThanOrEqualTo(10));
        return found;
    }

    private static string PrometheusName(string name, string? unit, string kind)
    {
        var result = Regex.Replace(name, "[^a-zA-Z0-9_]", "_");
        var suffix = UnitSuffix(unit);
        if (suffix.Length > 0 && !result.EndsWith("_" + suffix, StringComparison.Ordinal)) result += "_" + suffix;
        if (kind == "counter") result += "_total";
        return result;
    }

    private static string UnitSuffix(string? unit)
    {
        if (string.IsNullOrEmpty(unit) || unit.StartsWith('{')) return "";
        static string One(string u) => u switch
        {
            "s" => "seconds", "ms" => "milliseconds", "By" => "bytes", "KiBy" => "kibibytes", "MiBy" => "mebibytes", "1" => "ratio", "%" => "percent",
            "m" => "minutes", "h" => "hours", "d" => "days",
            _ => u,
        };
        int slash = unit.IndexOf('/');
        if (slash < 0) return One(unit);
        string per = unit[(slash + 1)..] switch { "s" => "second", "m" => "minute", "h" => "hour", var p => p };
        return One(unit[..slash]) + "_per_" + per;
    }

    private static void Collect(JsonElement element, List<string> queries)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (property.Name is "expr" or "query" or "definition" && property.Value.ValueKind == JsonValueKind.String) queries.Add(property.Value.GetString()!);
                    else Collect(property.Value, queries);
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray()) Collect(item, queries);
                break;
        }
    }

    [GeneratedRegex("spotcheckpoint_[a-z0-9_]+")]
    private static partial Regex MetricName();

    [GeneratedRegex("\\{[^}]*\\}")]
    private static partial Regex Selector();

    [GeneratedRegex("\\b(?:by|without)\\s*\\([^)]*\\)")]
    private static partial Regex Grouping();
}
