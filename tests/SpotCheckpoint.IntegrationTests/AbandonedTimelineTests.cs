namespace SpotCheckpoint.IntegrationTests;

/// <summary>
/// Issue 11, defect 1, with the sample trainer: newer checkpoints of another model under the same run id form an
/// abandoned timeline. The run falls back past them, and they must never cost it its own progress.
/// </summary>
public class AbandonedTimelineTests() : WorkDirectoryFixture("spotckpt-it")
{

    private static string[] Common(string uri, string modelMb = "0.5") =>
        ["--steps", "120", "--checkpoint-every", "10", "--model-mb", modelMb, "--seed", "7", "--quiet",
         "--optimizer", "adamw", "--scheduler", "cosine", "--checkpoint-uri", uri, "--run-id", "demo"];

    [Test]
    public async Task A_fallback_past_foreign_checkpoints_keeps_the_runs_progress_and_ends_bit_identical()
    {
        var straight = await SpotTrainerProcess.RunAsync(Work, Common(Path.Combine(Work, "straight")));
        Assert.That(straight.ExitCode, Is.Zero, straight.StdErr);

        var uri = Path.Combine(Work, "ckpt");
        var first = await SpotTrainerProcess.RunAsync(Work, [.. Common(uri), "--stop-at", "20"]);
        Assert.That(first.ExitCode, Is.Zero, first.StdErr);

        // Another model (a different size) under the same run id, committed at 90, 100 and 110.
        var foreignUri = Path.Combine(Work, "foreign");
        var foreign = await SpotTrainerProcess.RunAsync(Work, [.. Common(foreignUri, modelMb: "1"), "--steps", "110"]);
        Assert.That(foreign.ExitCode, Is.Zero, foreign.StdErr);
        foreach (var step in new[] { 90, 100, 110 })
        {
            var name = $"step-{step:D8}";
            CopyDirectory(Path.Combine(foreignUri, "demo", name), Path.Combine(uri, "demo", name));
        }

        var second = await SpotTrainerProcess.RunAsync(Work, [.. Common(uri), "--stop-at", "80"]);
        Assert.That(second.ExitCode, Is.Zero, second.StdErr);
        Assert.That(second.Summary!.ResumedFromStep, Is.EqualTo(20), "the foreign checkpoints do not fit");
        Assert.That(second.Summary.FinalStep, Is.EqualTo(80));

        var third = await SpotTrainerProcess.RunAsync(Work, Common(uri));
        Assert.That(third.ExitCode, Is.Zero, third.StdErr);
        Assert.That(third.Summary!.ResumedFromStep, Is.EqualTo(80), "the run's own progress survived retention");
        Assert.That(third.Summary.FinalStep, Is.EqualTo(120));
        Assert.That(third.Summary.FinalStateSha256, Is.EqualTo(straight.Summary!.FinalStateSha256));
    }

    private static void CopyDirectory(string from, string to)
    {
        Assert.That(Directory.Exists(from), Is.True, $"the foreign run committed {from}");
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }
}
