namespace SpotCheckpoint.IntegrationTests;

/// <summary>
/// Every optimizer TorchSharp ships (LBFGS as SpotCheckpoint's managed one) and the wrapping schedulers resume
/// exactly: a run stopped between two checkpoints and resumed in a new process ends bit-identical to a straight run.
/// </summary>
public class OptimizerCoverageTests() : WorkDirectoryFixture("spotckpt-it")
{

    // A tiny model keeps 14 cases of three processes each within a few minutes.
    private static string[] Common(string optimizer, string scheduler, string uri) =>
        ["--steps", "30", "--checkpoint-every", "5", "--model-mb", "0.02", "--batch-size", "16", "--seed", "11", "--quiet",
         "--optimizer", optimizer, "--scheduler", scheduler, "--checkpoint-uri", uri];

    [TestCase("sgd", "step")]
    [TestCase("adam", "step")]
    [TestCase("adamw", "step")]
    [TestCase("adamax", "step")]
    [TestCase("nadam", "step")]
    [TestCase("radam", "step")]
    [TestCase("rmsprop", "step")]
    [TestCase("adagrad", "step")]
    [TestCase("adadelta", "step")]
    [TestCase("asgd", "step")]
    [TestCase("rprop", "step")]
    [TestCase("lbfgs", "step")]
    [TestCase("adamw", "sequential")]
    [TestCase("adamw", "chained")]
    public async Task Stopped_at_17_and_resumed_ends_with_the_straight_runs_hash(string optimizer, string scheduler)
    {
        var stoppedUri = Path.Combine(Work, "stopped");
        // The straight run and the first half of the stopped one are independent: run them side by side.
        var straightTask = SpotTrainerProcess.RunAsync(Work, [.. Common(optimizer, scheduler, Path.Combine(Work, "straight")), "--run-id", "straight"]);
        var first = await SpotTrainerProcess.RunAsync(Work, [.. Common(optimizer, scheduler, stoppedUri), "--stop-at", "17"]);
        var straight = await straightTask;

        Assert.That(straight.ExitCode, Is.Zero, straight.StdErr);
        Assert.That(straight.Summary!.FinalStep, Is.EqualTo(30));
        Assert.That(first.ExitCode, Is.Zero, first.StdErr);
        Assert.That(first.Summary!.FinalStep, Is.EqualTo(17));
        Assert.That(first.Summary.FinalStateSha256, Is.Not.EqualTo(straight.Summary.FinalStateSha256));

        var second = await SpotTrainerProcess.RunAsync(Work, Common(optimizer, scheduler, stoppedUri));
        Assert.That(second.ExitCode, Is.Zero, second.StdErr);
        Assert.That(second.Summary!.ResumedFromStep, Is.EqualTo(17));
        Assert.That(second.Summary.FinalStep, Is.EqualTo(30));
        Assert.That(second.Summary.FinalStateSha256, Is.EqualTo(straight.Summary.FinalStateSha256));
    }
}
