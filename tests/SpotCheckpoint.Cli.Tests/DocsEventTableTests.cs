using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace SpotCheckpoint.Cli.Tests;

/// <summary>docs/getting-started.md's event table is what someone filtering logs reads: it must name every event.</summary>
public sealed partial class DocsEventTableTests
{
    [Test]
    public void Every_event_the_library_logs_is_in_the_getting_started_table()
    {
        var logged = typeof(Checkpointer).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => m.GetCustomAttribute<LoggerMessageAttribute>())
            .Where(a => a is not null)
            .Select(a => a!.EventId)
            .ToHashSet();
        Assert.That(logged, Has.Count.GreaterThan(10), "the library's [LoggerMessage] declarations");

        var root = typeof(DocsEventTableTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!;
        var documented = File.ReadLines(Path.Combine(root, "docs", "getting-started.md"))
            .Select(l => EventRow().Match(l)).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))
            .ToHashSet();

        Assert.That(logged.Except(documented).Order(), Is.Empty, "event ids logged but missing from the table in docs/getting-started.md#logging");
        Assert.That(documented.Except(logged).Order(), Is.Empty, "event ids in the table that the library does not log");
    }

    [GeneratedRegex(@"^\|\s*(\d+)\s*\|\s*(Trace|Debug|Information|Warning|Error|Critical)\s*\|")]
    private static partial Regex EventRow();
}
