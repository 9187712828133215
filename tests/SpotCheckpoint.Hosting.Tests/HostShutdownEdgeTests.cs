using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace SpotCheckpoint.Hosting.Tests;

/// <summary>Host shutdown with services that are not training loops, and with ShutdownTimeouts that never run out.</summary>
public sealed class HostShutdownEdgeTests
{
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDirectory();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    /// <summary>A service unrelated to training that runs until the host stops it.</summary>
    private sealed class QueueListener : BackgroundService
    {
        protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Delay(Timeout.Infinite, stoppingToken);
    }

    private IHost Build(TimeSpan shutdownTimeout, bool unrelatedService)
    {
        var builder = TestHosts.Builder(TestHosts.Settings(_dir.Path));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdownTimeout);
        // Registered first, so the host stops it after the checkpointer's service.
        if (unrelatedService) builder.Services.AddHostedService<QueueListener>();
        builder.Services.AddSpotCheckpoint(builder.Configuration);
        return builder.Build();
    }

    [Test]
    public async Task An_unrelated_background_service_does_not_hold_the_shutdown_for_the_whole_timeout()
    {
        using var host = Build(TimeSpan.FromMinutes(5), unrelatedService: true);
        await host.StartAsync();
        var stop = host.StopAsync();
        // Far below the 5-minute timeout the old wait sat out; nothing here is training, so nothing is waited for.
        var first = await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.That(first, Is.SameAs(stop), "StopAsync returned without waiting out the ShutdownTimeout");
        await stop;
    }

    [TestCase(-1, TestName = "An infinite ShutdownTimeout announces a deadline in the future")]
    [TestCase(long.MaxValue, TestName = "A TimeSpan.MaxValue ShutdownTimeout announces a deadline in the future")]
    public async Task The_announced_deadline_is_sane(long ticks)
    {
        var timeout = ticks == -1 ? Timeout.InfiniteTimeSpan : TimeSpan.FromTicks(ticks);
        using var host = Build(timeout, unrelatedService: false);
        await host.StartAsync();
        var checkpointer = host.Services.GetRequiredService<Checkpointer>();
        var before = DateTimeOffset.UtcNow;
        // ApplicationStopping is where the notice is raised (the host's own StopAsync cannot take TimeSpan.MaxValue).
        host.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();
        var notice = await checkpointer.Notices.FirstTermination.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(notice.Deadline, Is.GreaterThan(before + TimeSpan.FromMinutes(1)), "the deadline is ahead, not in the past");
        Assert.That(ShutdownWindow.Of(timeout), Is.EqualTo(ShutdownWindow.Longest));
        Assert.That(ShutdownWindow.Of(TimeSpan.FromSeconds(30)), Is.EqualTo(TimeSpan.FromSeconds(30)));
    }
}
