using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using SpotCheckpoint.Notices;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Hosting.Tests;

/// <summary>What AddSpotCheckpoint puts in the container, and how configuration reaches the checkpointer.</summary>
public sealed class DependencyInjectionTests
{
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDirectory();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [Test]
    public async Task The_checkpointer_is_one_singleton_writing_to_the_configured_location()
    {
        var builder = TestHosts.Builder(TestHosts.Settings(_dir.Path, runId: "from-config"));
        builder.Services.AddSpotCheckpoint(builder.Configuration);
        using var host = builder.Build();

        var first = host.Services.GetRequiredService<Checkpointer>();
        Assert.That(host.Services.GetRequiredService<Checkpointer>(), Is.SameAs(first));
        Assert.That(first.RunId, Is.EqualTo("from-config"));
        Assert.That(first.Store, Is.TypeOf<LocalFileStore>());
        Assert.That(((LocalFileStore)first.Store).Root, Is.EqualTo(Path.GetFullPath(_dir.Path)));
        await Task.CompletedTask;
    }

    [Test]
    public void Configuration_values_reach_the_core_options()
    {
        var settings = new SpotCheckpointOptions { RunId = "r", KeepLast = 7, StagingBuffers = 2, WhenBusy = BusyBehavior.Skip, CudaSeed = 42, Incremental = true, FullCheckpointEvery = 5 };
        settings.Policy.Kind = PolicyKind.Steps;
        settings.Policy.Steps = 500;
        settings.Notices.SafetyMargin = TimeSpan.FromSeconds(9);
        settings.Notices.Cloud = CloudNotices.Aws;
        var options = new CheckpointerOptions();

        CheckpointerOptionsMapper.Apply(settings, options, TimeProvider.System);

        Assert.Multiple(() =>
        {
            Assert.That(options.RunId, Is.EqualTo("r"));
            Assert.That(options.KeepLast, Is.EqualTo(7));
            Assert.That(options.StagingBuffers, Is.EqualTo(2));
            Assert.That(options.Incremental, Is.True);
            Assert.That(options.FullCheckpointEvery, Is.EqualTo(5));
            Assert.That(options.WhenBusy, Is.EqualTo(BusyBehavior.Skip));
            Assert.That(options.CudaSeed, Is.EqualTo(42));
            Assert.That(options.Policy.ToString(), Is.EqualTo("every 500 steps"));
            Assert.That(options.Notices.SafetyMargin, Is.EqualTo(TimeSpan.FromSeconds(9)));
            Assert.That(options.Notices.Sources.Select(s => s.Name), Is.EqualTo(new[] { "aws" }));
            // Unset values keep the core defaults.
            Assert.That(options.MaxShardBytes, Is.EqualTo(new CheckpointerOptions().MaxShardBytes));
            Assert.That(options.IncompleteUploadMaxAge, Is.EqualTo(new CheckpointerOptions().IncompleteUploadMaxAge));
        });
    }

    [Test]
    public void The_adaptive_policy_gets_its_settings_and_the_hosts_clock()
    {
        var policy = new PolicySettings { Kind = PolicyKind.Adaptive };
        policy.Adaptive.HazardPerHour = 0.5;
        policy.Adaptive.MinInterval = TimeSpan.FromSeconds(5);

        var created = CheckpointerOptionsMapper.CreatePolicy(policy, TimeProvider.System);

        Assert.That(created, Is.TypeOf<AdaptiveCheckpointPolicy>());
        var adaptive = (AdaptiveCheckpointPolicy)created;
        Assert.That(adaptive.Hazard.PriorPerHour, Is.EqualTo(0.5));
        Assert.That(adaptive.Hazard.TimeProvider, Is.SameAs(TimeProvider.System));
    }

    [Test]
    public async Task ConfigureCheckpointer_has_the_last_word()
    {
        var source = new RecordingSource();
        var builder = TestHosts.Builder(TestHosts.Settings(_dir.Path));
        builder.Services.AddSpotCheckpoint(builder.Configuration)
            .ConfigureCheckpointer(o => o.Notices.UseSource(source))
            .ConfigureCheckpointer((_, o) => o.KeepLast = 1);
        using var host = builder.Build();

        var checkpointer = host.Services.GetRequiredService<Checkpointer>();
        Assert.That(checkpointer.Notices.Sources, Does.Contain(source));
        await Task.CompletedTask;
    }

    [Test]
    public async Task Without_a_location_the_containers_store_is_used()
    {
        var store = new LocalFileStore(_dir.Path);
        var builder = TestHosts.Builder(new Dictionary<string, string?> { ["SpotCheckpoint:RunId"] = "x" });
        builder.Services.AddSpotCheckpoint(builder.Configuration).UseStore(_ => store);
        using var host = builder.Build();
        await host.StartAsync();

        Assert.That(host.Services.GetRequiredService<Checkpointer>().Store, Is.SameAs(store));
        await host.StopAsync();
    }

    [Test]
    public async Task A_configured_location_wins_over_the_containers_store()
    {
        using var other = new TempDirectory();
        var builder = TestHosts.Builder(TestHosts.Settings(_dir.Path));
        builder.Services.AddSingleton<ICheckpointStore>(new LocalFileStore(other.Path));
        builder.Services.AddSpotCheckpoint(builder.Configuration);
        using var host = builder.Build();

        var store = host.Services.GetRequiredService<Checkpointer>().Store;
        Assert.That(((LocalFileStore)store).Root, Is.EqualTo(Path.GetFullPath(_dir.Path)));
        await Task.CompletedTask;
    }

    [Test]
    public async Task Notice_sources_start_with_the_host_before_training_calls_anything()
    {
        var source = new RecordingSource();
        var builder = TestHosts.Builder(TestHosts.Settings(_dir.Path));
        builder.Services.AddSpotCheckpoint(builder.Configuration).ConfigureCheckpointer(o => o.Notices.UseSource(source));
        using var host = builder.Build();
        Assert.That(source.Started.Task.IsCompleted, Is.False);

        await host.StartAsync();

        Assert.That(await source.Started.Task.WaitAsync(TimeSpan.FromSeconds(10)), Is.True);
        await host.StopAsync();
        Assert.That(source.Stopped, Is.False, "sources run until the checkpointer is disposed with the container");
    }

    [Test]
    public async Task Host_shutdown_raises_a_termination_notice_with_the_configured_time_left()
    {
        var settings = TestHosts.Settings(_dir.Path);
        settings["SpotCheckpoint:Notices:HostShutdownTimeLeft"] = "00:00:42";
        var builder = TestHosts.Builder(settings);
        builder.Services.AddSpotCheckpoint(builder.Configuration);
        using var host = builder.Build();
        await host.StartAsync();
        var checkpointer = host.Services.GetRequiredService<Checkpointer>();
        Assert.That(checkpointer.Notices.TerminationPending, Is.False);

        await host.StopAsync();

        var notice = checkpointer.Notices.Termination;
        Assert.That(notice, Is.Not.Null);
        Assert.That(notice!.Action, Is.EqualTo("host shutdown"));
        Assert.That(notice.Window, Is.EqualTo(TimeSpan.FromSeconds(42)).Within(TimeSpan.FromSeconds(1)));
    }

    [Test]
    public async Task Host_shutdown_announces_the_hosts_shutdown_timeout_by_default()
    {
        var builder = TestHosts.Builder(TestHosts.Settings(_dir.Path));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(37));
        builder.Services.AddSpotCheckpoint(builder.Configuration);
        using var host = builder.Build();
        await host.StartAsync();

        await host.StopAsync();

        var notice = host.Services.GetRequiredService<Checkpointer>().Notices.Termination;
        Assert.That(notice!.Window, Is.EqualTo(TimeSpan.FromSeconds(37)).Within(TimeSpan.FromSeconds(1)),
            "the time the host will wait is the time left");
    }

    [Test]
    public async Task The_shutdown_timeout_from_configuration_is_the_time_left()
    {
        var settings = TestHosts.Settings(_dir.Path);
        settings["ShutdownTimeoutSeconds"] = "53"; // the generic host's own key (DOTNET_/environment: ShutdownTimeoutSeconds)
        var builder = TestHosts.Builder(settings);
        builder.Services.AddSpotCheckpoint(builder.Configuration);
        using var host = builder.Build();
        await host.StartAsync();

        await host.StopAsync();

        Assert.That(host.Services.GetRequiredService<Checkpointer>().Notices.Termination!.Window,
            Is.EqualTo(TimeSpan.FromSeconds(53)).Within(TimeSpan.FromSeconds(1)));
    }

    [Test]
    public async Task Host_shutdown_can_be_left_out_of_the_notices()
    {
        var settings = TestHosts.Settings(_dir.Path);
        settings["SpotCheckpoint:Notices:HostShutdown"] = "false";
        var builder = TestHosts.Builder(settings);
        builder.Services.AddSpotCheckpoint(builder.Configuration);
        using var host = builder.Build();
        await host.StartAsync();
        await host.StopAsync();
        Assert.That(host.Services.GetRequiredService<Checkpointer>().Notices.TerminationPending, Is.False);
    }

    [Test]
    public void Calling_AddSpotCheckpoint_twice_registers_one_checkpointer_and_one_hosted_service()
    {
        var services = new ServiceCollection();
        services.AddSpotCheckpoint(o => o.Location = _dir.Path);
        services.AddSpotCheckpoint(o => o.RunId = "second");
        Assert.That(services.Count(d => d.ServiceType == typeof(Checkpointer)), Is.EqualTo(1));
        Assert.That(services.Count(d => d.ServiceType == typeof(IHostedService)), Is.EqualTo(1));
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<SpotCheckpointOptions>>().Value;
        Assert.That((options.Location, options.RunId), Is.EqualTo((_dir.Path, "second")));
    }

    private sealed class RecordingSource : INoticeSource
    {
        public TaskCompletionSource<bool> Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Stopped { get; private set; }
        public string Name => "recording";

        public async Task RunAsync(NoticeContext context, CancellationToken cancellationToken)
        {
            Started.TrySetResult(true);
            try { await Task.Delay(Timeout.Infinite, cancellationToken); }
            finally { Stopped = true; }
        }
    }
}
