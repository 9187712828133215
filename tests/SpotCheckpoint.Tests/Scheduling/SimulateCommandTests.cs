using System.Text.Json;
using SpotCheckpoint.Cli;

namespace SpotCheckpoint.Tests.Scheduling;

public class SimulateCommandTests
{
    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = await CliApp.RunAsync(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    [Test]
    public async Task Simulate_json_follows_the_contract()
    {
        var (exit, output, error) = await RunAsync("simulate", "--hazard-per-hour", "0.041", "--notice-probability", "0",
            "--notice-seconds", "120", "--step-seconds", "5", "--stall-seconds", "1", "--persist-seconds", "10",
            "--restart-seconds", "0", "--hours", "24", "--runs", "40", "--seed", "3", "--json");
        Assert.That(exit, Is.Zero, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.That(root.GetProperty("youngDalyIntervalSeconds").GetDouble(), Is.EqualTo(Math.Sqrt(2 * 2.0 * 3600 / 0.041)).Within(2).Percent,
            "δ = 1 s stall + 0.1 × 10 s persist");
        Assert.That(root.GetProperty("youngDalyWastedFraction").GetDouble(), Is.GreaterThan(0).And.LessThan(0.05));
        var policies = root.GetProperty("policies").EnumerateArray().ToList();
        Assert.That(policies.Select(p => p.GetProperty("name").GetString()), Is.SupersetOf(new[] { "adaptive", "fixed-1800s", "none" }));
        foreach (var p in policies)
        {
            Assert.That(p.GetProperty("wastedFraction").GetDouble(), Is.InRange(0.0, 1.0));
            Assert.That(p.GetProperty("cost").GetProperty("effectiveHourlyRate").GetDouble(), Is.GreaterThanOrEqualTo(0.3));
        }
        double Waste(string name) => policies.Single(p => p.GetProperty("name").GetString() == name).GetProperty("wastedFraction").GetDouble();
        Assert.That(Waste("adaptive"), Is.LessThan(Waste("none")));
    }

    [Test]
    public async Task Simulate_replays_a_trace_file()
    {
        using var dir = new TempDirectory();
        var trace = Path.Combine(dir.Path, "trace.csv");
        await File.WriteAllTextAsync(trace, "seconds\n1000\n5000\n");
        var (exit, output, error) = await RunAsync("simulate", "--trace", trace, "--hours", "2", "--runs", "1", "--json");
        Assert.That(exit, Is.Zero, error);
        using var json = JsonDocument.Parse(output);
        var none = json.RootElement.GetProperty("policies").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "none");
        Assert.That(none.GetProperty("interruptionsPerRun").GetDouble(), Is.EqualTo(2));
    }

    [Test]
    public async Task Simulate_prints_a_table_for_people()
    {
        var (exit, output, _) = await RunAsync("simulate", "--runs", "5", "--hours", "4");
        Assert.That(exit, Is.Zero);
        Assert.That(output, Does.Contain("adaptive").And.Contain("fixed-1800s").And.Contain("none").And.Contain("Young/Daly"));
    }

    [Test]
    public async Task Bad_values_are_usage_errors()
    {
        var (exit, _, error) = await RunAsync("simulate", "--notice-probability", "1.5", "--json");
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(error, Does.Contain("--notice-probability must be between 0 and 1"));
        var (unknown, _, _) = await RunAsync("simulate", "--no-such-option");
        Assert.That(unknown, Is.Not.Zero);
    }
}
