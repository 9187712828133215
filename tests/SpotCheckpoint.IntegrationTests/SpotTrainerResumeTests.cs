namespace SpotCheckpoint.IntegrationTests;

/// <summary>The sample trainer's contract: stop anywhere, resume in a new process, end bit-identical.</summary>
public class SpotTrainerResumeTests() : WorkDirectoryFixture("spotckpt-it")
{

    private static string[] Common(string optimizer, string scheduler, string uri) =>
        ["--steps", "40", "--checkpoint-every", "10", "--model-mb", "0.5", "--seed", "7", "--quiet",
         "--optimizer", optimizer, "--scheduler", scheduler, "--checkpoint-uri", uri];

    private async Task<string> StraightHash(string optimizer, string scheduler)
    {
        var run = await SpotTrainerProcess.RunAsync(Work, [.. Common(optimizer, scheduler, Path.Combine(Work, "straight")), "--run-id", "straight"]);
        Assert.That(run.ExitCode, Is.Zero, run.StdErr);
        Assert.That(run.Summary!.FinalStep, Is.EqualTo(40));
        Assert.That(run.Summary.ResumedFromStep, Is.Null);
        return run.Summary.FinalStateSha256;
    }

    [TestCase("adam", "onecycle")]
    [TestCase("sgd", "step")]
    [TestCase("adamw", "cosine")]
    public async Task Stopped_then_resumed_runs_end_with_the_straight_runs_hash(string optimizer, string scheduler)
    {
        var straight = await StraightHash(optimizer, scheduler);
        foreach (var stopAt in new[] { 20, 15 }) // right after a periodic checkpoint, and between two
        {
            var uri = Path.Combine(Work, $"stop{stopAt}");
            var first = await SpotTrainerProcess.RunAsync(Work, [.. Common(optimizer, scheduler, uri), "--stop-at", stopAt.ToString()]);
            Assert.That(first.ExitCode, Is.Zero, first.StdErr);
            Assert.That(first.Summary!.FinalStep, Is.EqualTo(stopAt));

            var second = await SpotTrainerProcess.RunAsync(Work, Common(optimizer, scheduler, uri));
            Assert.That(second.ExitCode, Is.Zero, second.StdErr);
            Assert.That(second.Summary!.ResumedFromStep, Is.EqualTo(stopAt));
            Assert.That(second.Summary.FinalStep, Is.EqualTo(40));
            Assert.That(second.Summary.FinalStateSha256, Is.EqualTo(straight), $"stop at {stopAt}");
        }
    }

    [TestCase("truncate")]
    [TestCase("flip")]
    [TestCase("delete-manifest")]
    public async Task A_damaged_newest_checkpoint_falls_back_and_still_ends_identical(string damage)
    {
        var straight = await StraightHash("adamw", "onecycle");
        var uri = Path.Combine(Work, "ckpt");
        var first = await SpotTrainerProcess.RunAsync(Work, [.. Common("adamw", "onecycle", uri), "--stop-at", "25"]);
        Assert.That(first.ExitCode, Is.Zero, first.StdErr);

        var newest = Path.Combine(uri, "demo", "step-00000025");
        var shard = Directory.GetFiles(newest, "*.safetensors").Single();
        switch (damage)
        {
            case "truncate":
                using (var f = new FileStream(shard, FileMode.Open)) f.SetLength(f.Length / 2);
                break;
            case "flip":
                var bytes = File.ReadAllBytes(shard);
                bytes[^1000] ^= 0x80;
                File.WriteAllBytes(shard, bytes);
                break;
            default:
                File.Delete(Path.Combine(newest, "manifest.json"));
                break;
        }

        var resumed = await SpotTrainerProcess.RunAsync(Work, Common("adamw", "onecycle", uri));
        Assert.That(resumed.ExitCode, Is.Zero, resumed.StdErr);
        Assert.That(resumed.Summary!.ResumedFromStep, Is.EqualTo(20), "falls back to the previous good checkpoint");
        Assert.That(resumed.Summary.FinalStateSha256, Is.EqualTo(straight));
        if (damage != "delete-manifest") Assert.That(resumed.StdOut + resumed.StdErr, Does.Contain("falling back"));
    }

    [Test]
    public async Task Usage_errors_exit_2_with_a_message()
    {
        var run = await SpotTrainerProcess.RunAsync(Work, "--steps", "zero");
        Assert.That(run.ExitCode, Is.EqualTo(2));
        Assert.That(run.StdErr, Does.Contain("--steps needs a whole number"));
    }

    [Test]
    public async Task An_unknown_scheme_is_a_usage_error_of_one_line_without_a_stack_trace()
    {
        // Like every other bad option value: exit code 2 (docs/sample-trainer.md).
        var run = await SpotTrainerProcess.RunAsync(Work, "--steps", "5", "--checkpoint-uri", "nosuch://bucket/x", "--quiet");
        Assert.That(run.ExitCode, Is.EqualTo(2));
        var lines = run.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1));
        Assert.That(lines[0], Does.StartWith("error: --checkpoint-uri 'nosuch://bucket/x': No checkpoint store is registered for 'nosuch://'"));
        Assert.That(run.StdErr, Does.Not.Contain("   at "));
    }

    [Test]
    public async Task A_model_that_does_not_fit_the_checkpoint_exits_1_naming_the_tensor()
    {
        var uri = Path.Combine(Work, "ckpt");
        var first = await SpotTrainerProcess.RunAsync(Work, "--steps", "10", "--checkpoint-every", "5", "--model-mb", "0.5", "--quiet", "--checkpoint-uri", uri);
        Assert.That(first.ExitCode, Is.Zero, first.StdErr);
        var second = await SpotTrainerProcess.RunAsync(Work, "--steps", "20", "--model-mb", "1", "--quiet", "--checkpoint-uri", uri);
        Assert.That(second.ExitCode, Is.EqualTo(1));
        Assert.That(second.StdErr, Does.Contain("model/fc1.weight"));
    }
}
