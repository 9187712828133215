using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace SpotCheckpoint.Hosting.Tests;

/// <summary>Bad configuration stops the host at start-up with a message that names the key.</summary>
public sealed class OptionsValidationTests
{
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDirectory();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private async Task<Exception> StartFails(Action<Dictionary<string, string?>> change)
    {
        var settings = TestHosts.Settings(_dir.Path);
        change(settings);
        var builder = TestHosts.Builder(settings);
        builder.Services.AddSpotCheckpoint(builder.Configuration);
        using var host = builder.Build();
        var ex = Assert.CatchAsync(() => host.StartAsync());
        return ex!;
    }

    [TestCase("SpotCheckpoint:KeepLast", "0", "SpotCheckpoint:KeepLast must be at least 1")]
    [TestCase("SpotCheckpoint:RunId", "../escape", "SpotCheckpoint:RunId '../escape' is not valid")]
    [TestCase("SpotCheckpoint:StagingBuffers", "9", "SpotCheckpoint:StagingBuffers must be 1 to 4")]
    [TestCase("SpotCheckpoint:FullCheckpointEvery", "-1", "SpotCheckpoint:FullCheckpointEvery cannot be negative")]
    [TestCase("SpotCheckpoint:MaxShardBytes", "1000", "SpotCheckpoint:MaxShardBytes must be at least 1048576")]
    [TestCase("SpotCheckpoint:MaxBusyWait", "-00:00:01", "SpotCheckpoint:MaxBusyWait cannot be negative")]
    [TestCase("SpotCheckpoint:IncompleteUploadMaxAge", "00:00:00", "SpotCheckpoint:IncompleteUploadMaxAge must be positive")]
    [TestCase("SpotCheckpoint:MaxConsecutiveFailures", "0", "SpotCheckpoint:MaxConsecutiveFailures must be at least 1")]
    [TestCase("SpotCheckpoint:ProbeTimeout", "00:00:00", "SpotCheckpoint:ProbeTimeout must be positive")]
    [TestCase("SpotCheckpoint:DisposeTimeout", "-00:00:01", "SpotCheckpoint:DisposeTimeout cannot be negative")]
    [TestCase("SpotCheckpoint:Notices:EmergencyLeadTime", "-00:00:01", "SpotCheckpoint:Notices:EmergencyLeadTime cannot be negative")]
    [TestCase("SpotCheckpoint:Notices:SafetyMargin", "-00:00:05", "SpotCheckpoint:Notices:SafetyMargin cannot be negative")]
    [TestCase("SpotCheckpoint:Notices:HostShutdownTimeLeft", "00:00:00", "SpotCheckpoint:Notices:HostShutdownTimeLeft must be positive")]
    [TestCase("SpotCheckpoint:Policy:Interval", "00:00:00", "SpotCheckpoint:Policy:Interval must be positive")]
    [TestCase("SpotCheckpoint:Cost:SpotPricePerHour", "0.3", "SpotCheckpoint:Cost:OnDemandPricePerHour is required")]
    public async Task A_bad_value_fails_start_up_naming_its_key(string key, string value, string expected)
    {
        var ex = await StartFails(s => s[key] = value);
        Assert.That(ex, Is.TypeOf<OptionsValidationException>());
        Assert.That(ex.Message, Does.Contain(expected));
    }

    [Test]
    public async Task Steps_policy_without_a_step_count_names_the_missing_key()
    {
        var ex = await StartFails(s => s["SpotCheckpoint:Policy:Kind"] = "Steps");
        Assert.That(ex.Message, Does.Contain("SpotCheckpoint:Policy:Steps is required when Policy:Kind is Steps"));
    }

    [Test]
    public async Task Adaptive_policy_errors_name_the_adaptive_key()
    {
        var ex = await StartFails(s =>
        {
            s["SpotCheckpoint:Policy:Kind"] = "Adaptive";
            s["SpotCheckpoint:Policy:Adaptive:MinInterval"] = "00:10:00";
            s["SpotCheckpoint:Policy:Adaptive:MaxInterval"] = "00:01:00";
        });
        Assert.That(ex, Is.TypeOf<OptionsValidationException>());
        Assert.That(ex.Message, Does.Contain("SpotCheckpoint:Policy:Adaptive:MaxInterval cannot be shorter than MinInterval"));
    }

    [Test]
    public async Task Every_failure_is_reported_at_once()
    {
        var ex = await StartFails(s =>
        {
            s["SpotCheckpoint:KeepLast"] = "0";
            s["SpotCheckpoint:Location"] = "";
        });
        Assert.That(ex.Message, Does.Contain("SpotCheckpoint:KeepLast").And.Contain("SpotCheckpoint:Location is required"));
    }

    [Test]
    public async Task A_misspelt_key_is_an_error_not_silently_ignored()
    {
        var ex = await StartFails(s => s["SpotCheckpoint:KeepLst"] = "2");
        Assert.That(ex, Is.TypeOf<InvalidOperationException>());
        Assert.That(ex.Message, Does.Contain("KeepLst"));
    }

    [Test]
    public async Task A_value_of_the_wrong_type_names_the_key()
    {
        var ex = await StartFails(s => s["SpotCheckpoint:KeepLast"] = "three");
        Assert.That(ex.Message, Does.Contain("SpotCheckpoint:KeepLast"));
    }

    [Test]
    public async Task A_location_with_an_unregistered_scheme_names_the_key()
    {
        var ex = await StartFails(s => s["SpotCheckpoint:Location"] = "nosuchstore://bucket/prefix");
        Assert.That(ex, Is.TypeOf<OptionsValidationException>());
        Assert.That(ex.Message, Does.Contain("SpotCheckpoint:Location 'nosuchstore://bucket/prefix' cannot be opened"));
        Assert.That(ex.Message, Does.Contain("No checkpoint store is registered for 'nosuchstore://'"));
    }

    [Test]
    public async Task Keys_are_reported_under_the_section_that_was_bound()
    {
        var builder = TestHosts.Builder(new Dictionary<string, string?>
        {
            ["Training:Checkpoints:Location"] = _dir.Path,
            ["Training:Checkpoints:KeepLast"] = "0",
        });
        builder.Services.AddSpotCheckpoint(builder.Configuration.GetSection("Training:Checkpoints"));
        using var host = builder.Build();
        var ex = Assert.CatchAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.That(ex!.Message, Does.Contain("Training:Checkpoints:KeepLast must be at least 1"));
        await Task.CompletedTask;
    }

    [Test]
    public async Task Options_set_in_code_are_validated_too()
    {
        var builder = TestHosts.Builder(new Dictionary<string, string?>());
        builder.Services.AddSpotCheckpoint(o =>
        {
            o.Location = _dir.Path;
            o.KeepLast = -1;
        });
        using var host = builder.Build();
        var ex = Assert.CatchAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.That(ex!.Message, Does.Contain("SpotCheckpoint:KeepLast must be at least 1 (found -1)"));
        await Task.CompletedTask;
    }

    [Test]
    public async Task Valid_configuration_starts_and_stops_the_host()
    {
        var settings = TestHosts.Settings(_dir.Path);
        settings["SpotCheckpoint:Policy:Kind"] = "Adaptive";
        settings["SpotCheckpoint:Policy:Adaptive:InstanceType"] = "p5.48xlarge";
        settings["SpotCheckpoint:Cost:OnDemandPricePerHour"] = "98.32";
        settings["SpotCheckpoint:Cost:SpotPricePerHour"] = "30.0";
        var builder = TestHosts.Builder(settings);
        builder.Services.AddSpotCheckpoint(builder.Configuration);
        using var host = builder.Build();
        await host.StartAsync();
        await host.StopAsync();
        Assert.That(host.Services.GetRequiredService<Checkpointer>().RunId, Is.EqualTo("hosted"));
    }
}
