using SpotCheckpoint.Tests.Notices.Fakes;

namespace SpotCheckpoint.IntegrationTests;

/// <summary>
/// The sample trainer preempted by each provider's notice (fake metadata services on 127.0.0.1, named by the
/// endpoint variables) and by SIGTERM: exit 75, a committed checkpoint at the step reached, a notice-to-commit
/// time well inside the provider's window, and a resumed run that ends bit-identical to an uninterrupted one.
/// </summary>
[NonParallelizable]
public class SpotTrainerNoticeTests() : WorkDirectoryFixture("spotckpt-it")
{
    private const int PreemptedExitCode = 75;
    private string _straightHash = "";

    private static string[] Common(string uri) =>
        ["--steps", "120", "--checkpoint-every", "40", "--model-mb", "0.5", "--seed", "11", "--checkpoint-uri", uri];

    // One uninterrupted run is the reference of every test (runs are deterministic: docs/reliability.md).
    [OneTimeSetUp]
    public async Task RunStraight()
    {
        using var reference = new TempDirectory("spotckpt-it");
        var straight = await SpotTrainerProcess.RunAsync(reference.Path, [.. Common(Path.Combine(reference.Path, "straight")), "--quiet", "--notice", "none"]);
        Assert.That(straight.ExitCode, Is.Zero, straight.StdErr);
        Assert.That(straight.Summary!.Preempted, Is.False);
        Assert.That(straight.Summary.NoticeProvider, Is.Null);
        _straightHash = straight.Summary.FinalStateSha256;
    }

    /// <summary>
    /// Starts a slowed-down run with <paramref name="notice"/>, waits until it is watching, triggers the notice,
    /// checks the preempted outcome, then resumes (with no notices) and compares the final hash.
    /// </summary>
    private async Task<SpotTrainerProcess.Outcome> PreemptAndResume(string notice, IReadOnlyDictionary<string, string> environment,
        Func<SpotTrainerProcess.Running, Task> waitUntilWatched, Action<SpotTrainerProcess.Running> trigger, string provider, double windowMs,
        int stepDelayMs = 25)
    {
        var uri = Path.Combine(Work, notice + "-" + Guid.NewGuid().ToString("N")[..6]);
        SpotTrainerProcess.Outcome preempted;
        await using (var running = SpotTrainerProcess.Start(Work, environment, [.. Common(uri), "--step-delay-ms", stepDelayMs.ToString(System.Globalization.CultureInfo.InvariantCulture), "--notice", notice]))
        {
            await running.WaitForOutputAsync("Watching for termination notices");
            await waitUntilWatched(running);
            // Training has begun: whenever the notice is seen, it is handled at a step boundary after step 0.
            await running.WaitForOutputAsync("starting at step 0");
            trigger(running);
            preempted = await running.WaitAsync();
        }
        Assert.That(preempted.ExitCode, Is.EqualTo(PreemptedExitCode), preempted.StdOut + preempted.StdErr);
        var summary = preempted.Summary!;
        Assert.That(summary.Preempted, Is.True);
        Assert.That(summary.NoticeProvider, Is.EqualTo(provider));
        Assert.That(summary.FinalStep, Is.InRange(1, 119), "stopped before the end");
        Assert.That(File.Exists(Path.Combine(uri, "demo", $"step-{summary.FinalStep:D8}", "manifest.json")), Is.True,
            "a committed checkpoint at the step reached");
        Assert.That(summary.NoticeToCommitMs, Is.Not.Null.And.LessThan(windowMs / 3), "well inside the provider's window");
        Assert.That(preempted.StdOut, Does.Contain("Preempted"));

        var resumed = await SpotTrainerProcess.RunAsync(Work, [.. Common(uri), "--quiet", "--notice", "none"]);
        Assert.That(resumed.ExitCode, Is.Zero, resumed.StdErr);
        Assert.That(resumed.Summary!.ResumedFromStep, Is.EqualTo(summary.FinalStep));
        Assert.That(resumed.Summary.FinalStep, Is.EqualTo(120));
        Assert.That(resumed.Summary.FinalStateSha256, Is.EqualTo(_straightHash));
        return preempted;
    }

    [Test]
    public async Task Aws_spot_interruption_notice()
    {
        await using var imds = new FakeImds();
        await PreemptAndResume("aws", new Dictionary<string, string> { ["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds.Endpoint.AbsoluteUri },
            _ => imds.WaitForRequestsAsync(r => r.Path.EndsWith("spot/instance-action", StringComparison.Ordinal)),
            _ => imds.InstanceAction = FakeImds.Action("terminate", DateTimeOffset.UtcNow.AddMinutes(2)),
            "aws", 120_000);
        Assert.That(imds.Requests.Any(r => r.Method == "PUT"), "IMDSv2");
    }

    [Test]
    public async Task Gcp_preemption()
    {
        await using var gcp = new FakeGcpMetadata();
        await PreemptAndResume("gcp", new Dictionary<string, string> { ["GCE_METADATA_HOST"] = gcp.Endpoint.Authority },
            _ => gcp.WaitForRequestsAsync(r => r.Path.EndsWith("instance/preempted", StringComparison.Ordinal) && r.QueryValue("wait_for_change") == "true"),
            _ => gcp.Set("instance/preempted", "TRUE"),
            "gcp", 30_000);
    }

    [Test]
    public async Task Azure_eviction_is_approved_after_the_commit()
    {
        await using var azure = new FakeAzureImds();
        string uriRoot = "";
        string[] manifestsAtApproval = [];
        azure.OnApprove = _ => manifestsAtApproval = Directory.GetFiles(uriRoot, "manifest.json", SearchOption.AllDirectories);
        var outcome = await PreemptAndResume("azure", new Dictionary<string, string> { ["SPOTCHECKPOINT_AZURE_METADATA_ENDPOINT"] = azure.Endpoint.AbsoluteUri },
            async running =>
            {
                await azure.WaitForRequestsAsync(r => r.Path == "/metadata/scheduledevents");
                uriRoot = Work;
            },
            _ =>
            {
                azure.AddEvent("neighbour", "Preempt", ["some-other-vm"], DateTimeOffset.UtcNow.AddSeconds(30));
                azure.AddEvent("evict-42", "Preempt", [azure.VmName], DateTimeOffset.UtcNow.AddSeconds(30));
            },
            "azure", 30_000);
        Assert.That(azure.Approved, Is.EqualTo(new[] { "evict-42" }));
        Assert.That(manifestsAtApproval, Has.Some.Contains($"step-{outcome.Summary!.FinalStep:D8}"), "approved only once the checkpoint had committed");
    }

    [Test]
    public async Task An_Azure_Redeploy_of_this_VM_ends_a_long_run_with_a_checkpoint_committed_before_NotBefore()
    {
        await using var azure = new FakeAzureImds();
        DateTimeOffset notBefore = default;
        DateTimeOffset approvedAt = default;
        azure.OnApprove = _ => approvedAt = DateTimeOffset.UtcNow;
        // 120 steps of 400 ms: the run would last well past NotBefore.
        var outcome = await PreemptAndResume("azure", new Dictionary<string, string> { ["SPOTCHECKPOINT_AZURE_METADATA_ENDPOINT"] = azure.Endpoint.AbsoluteUri },
            _ => azure.WaitForRequestsAsync(r => r.Path == "/metadata/scheduledevents"),
            _ =>
            {
                notBefore = DateTimeOffset.UtcNow.AddSeconds(30);
                azure.AddEvent("redeploy-7", "Redeploy", [azure.VmName], notBefore);
            },
            "azure", 30_000, stepDelayMs: 400);
        Assert.That(outcome.StdOut, Does.Contain("Redeploy"));
        Assert.That(azure.Approved, Is.EqualTo(new[] { "redeploy-7" }), "the event lists this VM alone: approved once the checkpoint is safe");
        Assert.That(approvedAt, Is.LessThan(notBefore), "committed (then approved) before NotBefore");
    }

    [Test]
    public async Task An_Azure_Preempt_that_also_lists_a_neighbour_ends_the_run_but_is_not_approved()
    {
        await using var azure = new FakeAzureImds();
        var outcome = await PreemptAndResume("azure", new Dictionary<string, string> { ["SPOTCHECKPOINT_AZURE_METADATA_ENDPOINT"] = azure.Endpoint.AbsoluteUri },
            _ => azure.WaitForRequestsAsync(r => r.Path == "/metadata/scheduledevents"),
            _ => azure.AddEvent("evict-shared", "Preempt", [azure.VmName, "neighbour-vm"], DateTimeOffset.UtcNow.AddSeconds(30)),
            "azure", 30_000);
        Assert.That(azure.Approved, Is.Empty, "approval would start the eviction for the neighbour too");
        Assert.That(azure.Requests.Any(r => r.Method == "POST"), Is.False);
        Assert.That(outcome.StdOut, Does.Contain("not approved"));
    }

    [Test]
    public async Task A_GCP_GPU_VM_keeps_training_through_a_host_maintenance_notice_that_leaves_an_hour()
    {
        await using var gcp = new FakeGcpMetadata();
        gcp.Set("instance/machine-type", "projects/123456/machineTypes/a2-highgpu-1g");
        var uri = Path.Combine(Work, "gcp-gpu-" + Guid.NewGuid().ToString("N")[..6]);
        SpotTrainerProcess.Outcome run;
        await using (var running = SpotTrainerProcess.Start(Work, new Dictionary<string, string> { ["GCE_METADATA_HOST"] = gcp.Endpoint.Authority },
            [.. Common(uri), "--step-delay-ms", "25", "--notice", "gcp"]))
        {
            await gcp.WaitForRequestsAsync(r => r.Path.EndsWith("instance/maintenance-event", StringComparison.Ordinal) && r.QueryValue("wait_for_change") == "true");
            await running.WaitForOutputAsync("starting at step 0");
            gcp.Set("instance/maintenance-event", "TERMINATE_ON_HOST_MAINTENANCE");
            await running.WaitForOutputAsync("training goes on");
            run = await running.WaitAsync();
        }
        Assert.That(run.ExitCode, Is.Zero, run.StdOut + run.StdErr);
        Assert.That(run.Summary!.Preempted, Is.False);
        Assert.That(run.Summary.FinalStep, Is.EqualTo(120));
        Assert.That(run.Summary.FinalStateSha256, Is.EqualTo(_straightHash), "bit-identical to an uninterrupted run");
    }

    [Test]
    public async Task Sigterm_from_kubernetes_or_a_process_manager()
    {
        await PreemptAndResume("signal", new Dictionary<string, string>(),
            _ => Task.CompletedTask,
            running => running.Signal(15),
            "signal", 30_000);
    }

    [Test]
    public async Task Auto_detects_the_cloud_from_the_endpoints_and_acts_on_its_notice()
    {
        await using var gcp = new FakeGcpMetadata();
        var environment = new Dictionary<string, string>
        {
            ["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = FakeHttpServer.ClosedEndpoint().AbsoluteUri,
            ["GCE_METADATA_HOST"] = gcp.Endpoint.Authority,
            ["SPOTCHECKPOINT_AZURE_METADATA_ENDPOINT"] = FakeHttpServer.ClosedEndpoint().AbsoluteUri,
        };
        var outcome = await PreemptAndResume("auto", environment,
            running => running.WaitForOutputAsync("detected gcp"),
            _ => gcp.Set("instance/preempted", "TRUE"),
            "gcp", 30_000);
        Assert.That(outcome.StdOut, Does.Contain("Watching for termination notices: signal, auto"));
    }

    [Test]
    public async Task Without_a_notice_the_run_ends_normally_and_says_it_was_not_preempted()
    {
        var run = await SpotTrainerProcess.RunAsync(Work, [.. Common(Path.Combine(Work, "plain")), "--quiet", "--steps", "20", "--checkpoint-every", "10"]);
        Assert.That(run.ExitCode, Is.Zero, run.StdErr);
        Assert.That(run.Summary!.Preempted, Is.False);
        Assert.That(run.Summary.NoticeToCommitMs, Is.Null);
    }

    [Test]
    public async Task An_unknown_notice_source_is_a_usage_error()
    {
        var run = await SpotTrainerProcess.RunAsync(Work, "--notice", "oracle");
        Assert.That(run.ExitCode, Is.EqualTo(2));
        Assert.That(run.StdErr, Does.Contain("--notice must be one of auto, aws, gcp, azure, signal, none"));
    }
}
