namespace SpotCheckpoint.IntegrationTests;

/// <summary>
/// The sample trainer's command line as a user meets it: every bad value is one "error: …" line on stderr and exit
/// code 2 (no stack trace, no crash), help goes to stdout, and a location it cannot write stops it before training.
/// </summary>
public class SpotTrainerArgumentTests() : WorkDirectoryFixture("spotckpt-it")
{

    private const string BeyondLong = "99999999999999999999";

    /// <summary>Every numeric option with an overflowing, a negative and a non-numeric value, plus the two the issue reported.</summary>
    private static IEnumerable<TestCaseData> BadNumbers()
    {
        string[] numeric = ["--steps", "--stop-at", "--seed", "--checkpoint-every", "--step-delay-ms", "--batch-size", "--model-mb", "--hazard-per-hour"];
        foreach (var option in numeric)
        {
            foreach (var value in new[] { BeyondLong, "-1", "abc" })
                yield return new TestCaseData(option, value).SetName($"{{m}}({option} {value})");
        }
        yield return new TestCaseData("--batch-size", "5000000000").SetName("{m}(--batch-size 5000000000)");
        yield return new TestCaseData("--step-delay-ms", "99999999999").SetName("{m}(--step-delay-ms 99999999999)");
        yield return new TestCaseData("--batch-size", "4097").SetName("{m}(--batch-size beyond the data set)");
        yield return new TestCaseData("--model-mb", "1e400").SetName("{m}(--model-mb infinite)");
    }

    [TestCaseSource(nameof(BadNumbers))]
    public async Task A_bad_number_is_one_error_line_and_exit_2(string option, string value)
    {
        var run = await SpotTrainerProcess.RunAsync(Work, option, value, "--quiet");
        AssertUsageError(run, option);
    }

    [TestCase("--run-id", "../escape")]
    [TestCase("--run-id", ".hidden")]
    [TestCase("--optimizer", "lamb")]
    [TestCase("--scheduler", "warmup")]
    [TestCase("--notice", "oracle")]
    [TestCase("--gpu-family", "Unknown")]
    [TestCase("--gpu-family", "3")]
    [TestCase("--checkpoint-uri", "ftp://host/x")]
    [TestCase("--checkpoint-uri", "s3://")]
    [TestCase("--no-such-option", null)]
    [TestCase("--steps", null)]
    public async Task Every_usage_error_exits_2_with_one_line(string option, string? value)
    {
        var run = await SpotTrainerProcess.RunAsync(Work, value is null ? [option, "--quiet"] : [option, value, "--quiet"]);
        AssertUsageError(run, option);
    }

    [Test]
    public async Task A_bucketless_s3_uri_reads_as_typed_without_the_dotnet_parameter_suffix()
    {
        var run = await SpotTrainerProcess.RunAsync(Work, "--checkpoint-uri", "s3://", "--quiet");
        Assert.That(run.StdErr, Does.Contain("'s3://' names no bucket").And.Not.Contain("s3:///").And.Not.Contain("(Parameter"));
    }

    [Test]
    public async Task Help_goes_to_stdout_and_lists_itself()
    {
        var run = await SpotTrainerProcess.RunAsync(Work, "--help");
        Assert.That(run.ExitCode, Is.Zero);
        Assert.That(run.StdErr, Is.Empty);
        Assert.That(run.StdOut, Does.Contain("Usage: SpotTrainer").And.Contain("--help").And.Contain("--step-delay-ms"));
    }

    /// <summary>
    /// A location the process cannot write. The tests run as root here, and root writes a chmod'ed read-only folder
    /// anyway, so the locations are ones root cannot write either: a folder under /proc (the kernel refuses to create
    /// it) and a path whose parent is a regular file.
    /// </summary>
    [TestCase("proc")]
    [TestCase("file-as-folder")]
    public async Task An_unwritable_location_stops_the_trainer_before_training_with_one_line(string kind)
    {
        string location;
        if (kind == "proc")
        {
            location = $"/proc/spotckpt-{Guid.NewGuid():N}";
        }
        else
        {
            var blocker = Path.Combine(Work, "blocker");
            await File.WriteAllTextAsync(blocker, "a file where the checkpoint folder would be");
            location = Path.Combine(blocker, "checkpoints");
        }

        var run = await SpotTrainerProcess.RunAsync(Work, "--steps", "20", "--checkpoint-every", "5", "--model-mb", "0.5", "--checkpoint-uri", location);

        Assert.That(run.ExitCode, Is.EqualTo(1), run.StdOut + run.StdErr);
        var lines = run.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), run.StdErr);
        Assert.That(lines[0], Does.StartWith("error: ").And.Contain(location));
        Assert.That(run.StdErr + run.StdOut, Does.Not.Contain("   at "));
        // Found when the checkpointer starts: the trainer never logged the start of training nor a step.
        Assert.That(run.StdOut, Does.Not.Contain("Model:").And.Not.Contain("committed"), run.StdOut);
        Assert.That(run.Summary, Is.Null);
    }

    [Test]
    public async Task A_finished_run_started_again_says_it_is_complete_and_how_to_start_another()
    {
        var uri = Path.Combine(Work, "ckpt");
        string[] args = ["--steps", "10", "--checkpoint-every", "5", "--model-mb", "0.5", "--checkpoint-uri", uri];
        var first = await SpotTrainerProcess.RunAsync(Work, args);
        Assert.That(first.ExitCode, Is.Zero, first.StdErr);

        var again = await SpotTrainerProcess.RunAsync(Work, args);

        Assert.That(again.ExitCode, Is.Zero, again.StdErr);
        Assert.That(again.StdOut, Does.Contain("Run demo is already complete (step 10 of 10)").And.Contain("--run-id"));
        Assert.That(again.Summary!.FinalStep, Is.EqualTo(10));
    }

    private static void AssertUsageError(SpotTrainerProcess.Outcome run, string option)
    {
        Assert.That(run.ExitCode, Is.EqualTo(2), run.StdOut + run.StdErr);
        var lines = run.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), run.StdErr);
        Assert.That(lines[0], Does.StartWith("error: ").And.Contain(option));
        Assert.That(run.StdErr + run.StdOut, Does.Not.Contain("   at ").And.Not.Contain("Unhandled exception"));
        Assert.That(run.Summary, Is.Null);
    }
}
