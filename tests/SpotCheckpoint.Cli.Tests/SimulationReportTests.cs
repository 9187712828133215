namespace SpotCheckpoint.Cli.Tests;

public sealed class SimulationReportTests
{
    [Test]
    public async Task Simulate_writes_waste_against_interval_with_the_optimum_and_the_cost_view()
    {
        var html = Path.Combine(Path.GetTempPath(), $"sim-{Guid.NewGuid():N}.html");
        try
        {
            var (exit, _, error) = await Cli.RunAsync("simulate", "--runs", "20", "--hours", "12", "--output", html);
            Assert.That(exit, Is.Zero, error);
            var page = await File.ReadAllTextAsync(html);
            Assert.That(System.Text.RegularExpressions.Regex.Count(page, "<figure class=\"chart\""), Is.EqualTo(2));
            Assert.That(page, Does.Contain("Young/Daly optimum").And.Contain("best of the sweep").And.Contain("adaptive"));
            Assert.That(page, Does.Contain("Effective hourly rate per policy"));
        }
        finally
        {
            File.Delete(html);
        }
    }
}
