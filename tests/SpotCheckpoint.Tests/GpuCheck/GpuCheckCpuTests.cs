using System.Text;
using System.Text.Json;
using SpotCheckpoint.GpuCheck;
using SpotCheckpoint.Staging.Cuda;

namespace SpotCheckpoint.Tests.GpuCheck;

/// <summary>The GPU check's argument handling and report, which run without a GPU.</summary>
public class GpuCheckCpuTests
{
    [Test]
    public void Every_staging_mode_is_measured_by_default_and_a_list_selects_some()
    {
        var defaults = GpuCheckOptions.Parse([]);
        Assert.That(defaults.Modes, Is.EqualTo(Enum.GetValues<CudaStagingMode>()));
        Assert.That(defaults.ComputeMegaBytes, Is.EqualTo(4096));

        var some = GpuCheckOptions.Parse(["--modes", "device-clone, fence-optimizer-step,device-clone", "--compute-mb", "0", "--mb", "64"]);
        Assert.That(some.Modes, Is.EqualTo(new[] { CudaStagingMode.DeviceClone, CudaStagingMode.FenceOptimizerStep }));
        Assert.That(some.ComputeMegaBytes, Is.Zero);
        Assert.That(some.MegaBytes, Is.EqualTo(64));
        Assert.That(GpuCheckOptions.Parse(["--modes", "all"]).Modes, Has.Count.EqualTo(3));
    }

    [TestCase(new[] { "--modes", "fence-everything" }, "unknown mode 'fence-everything'")]
    [TestCase(new[] { "--modes", "," }, "--modes needs at least one mode")]
    [TestCase(new[] { "--compute-mb", "-1" }, "--compute-mb must be an integer from 0")]
    [TestCase(new[] { "--mb" }, "--mb needs a value")]
    [TestCase(new[] { "--fast" }, "Unknown argument '--fast'")]
    public void Bad_arguments_get_one_clear_line(string[] args, string message)
    {
        var ex = Assert.Throws<ArgumentException>(() => GpuCheckOptions.Parse(args));
        Assert.That(ex!.Message, Does.Contain(message));
        Assert.That(ex.Message, Does.Not.Contain("\n"));
    }

    [Test]
    public void The_usage_names_every_mode()
    {
        foreach (var mode in Enum.GetValues<CudaStagingMode>())
            Assert.That(GpuCheckOptions.Usage, Does.Contain(GpuCheckOptions.NameOf(mode)));
    }

    private static readonly ModeMeasurement Baseline = new(GpuCheckReport.BaselineName, 1500, 1500, 2500, true);

    private static readonly ModeMeasurement[] Modes =
    [
        new("fence-default-stream", 0.1, 1500, 2500, true),
        new("fence-optimizer-step", 0.12, 0, 1010, true),
        new("device-clone", 0.2, 60, 1060, false),
    ];

    [Test]
    public void The_table_shows_host_and_device_blocked_time_and_the_ratio_to_the_baseline()
    {
        var table = GpuCheckReport.Table(Modes, Baseline, 84_000_000_000, 1000);
        var lines = table.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[0], Does.Contain("84 GB staged").And.Contain("1000 ms of work"));
        var optimizer = lines.Single(l => l.StartsWith("fence-optimizer-step", StringComparison.Ordinal));
        Assert.That(optimizer, Does.Contain("120.0 us").And.Contain("0.0 us").And.Contain("1010.00 ms").And.Contain("0.404"));
        Assert.That(lines.Single(l => l.StartsWith("device-clone", StringComparison.Ordinal)), Does.Contain("MISMATCH"));
        Assert.That(lines.Last(l => l.Trim().Length > 0), Does.StartWith(GpuCheckReport.BaselineName).And.Contain("1.000"));
    }

    [Test]
    public void The_json_lists_each_mode_and_the_baseline()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            GpuCheckReport.WriteJson(w, Modes, Baseline);
            w.WriteEndObject();
        }
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(stream.ToArray()));
        var modes = doc.RootElement.GetProperty("modes").EnumerateArray().ToList();
        Assert.That(modes.Select(m => m.GetProperty("mode").GetString()), Is.EqualTo(new[] { "fence-default-stream", "fence-optimizer-step", "device-clone", GpuCheckReport.BaselineName }));
        Assert.That(modes[1].GetProperty("deviceStallMs").GetDouble(), Is.Zero);
        Assert.That(modes[1].GetProperty("overBaseline").GetDouble(), Is.EqualTo(0.404));
        Assert.That(modes[2].GetProperty("verified").GetBoolean(), Is.False);
    }
}
