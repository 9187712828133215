namespace SpotCheckpoint.Cli.Tests;

/// <summary>
/// What someone typing spotckpt commands meets: the documented exit codes (2 for every usage error, 130 when
/// interrupted), messages that say what to type instead, no secrets echoed, and plain text when output is not a
/// terminal.
/// </summary>
public sealed class UsageAndMessagesTests
{
    private string _work = "";

    [SetUp]
    public void SetUp()
    {
        _work = Path.Combine(Path.GetTempPath(), "spotckpt-cli-usage", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_work);
    }

    [TearDown]
    public void TearDown()
    {
        try { Directory.Delete(_work, recursive: true); } catch (IOException) { }
    }

    [TestCase("ls", "./x/demo", "--bogus")]
    [TestCase("verify")]
    [TestCase("prune", "./x/demo")]
    [TestCase("copy", "./x/demo")]
    [TestCase("inspect", "./x/demo", "--step", "many")]
    [TestCase("nosuchverb")]
    public async Task Parse_errors_exit_2_as_documented(params string[] args)
    {
        var (exit, output, error) = await Cli.RunAsync(args);
        Assert.That(exit, Is.EqualTo(2), output + error);
        Assert.That(error, Does.StartWith("error: ").And.Contain("--help"));
    }

    [Test]
    public async Task The_usage_line_says_spotckpt()
    {
        var (exit, output, _) = await Cli.RunAsync("--help");
        Assert.That(exit, Is.Zero);
        Assert.That(output, Does.Contain("spotckpt [command]").And.Not.Contain("SpotCheckpoint.Cli"));
    }

    [Test]
    public async Task An_interrupted_verb_exits_130()
    {
        var store = Path.Combine(_work, "ckpt");
        await TrainingRun.RunAsync(store, "demo", steps: 4, every: 2);
        using var interrupted = new CancellationTokenSource();
        await interrupted.CancelAsync(); // Ctrl-C cancels the invocation's token

        var output = new StringWriter();
        var error = new StringWriter();
        int exit = await CliApp.RunAsync(["verify", Path.Combine(store, "demo"), "--all"], output, error, interrupted.Token);

        Assert.That(exit, Is.EqualTo(130), error.ToString());
    }

    [Test]
    public async Task Ls_of_a_path_that_does_not_exist_says_so_exits_1_and_creates_nothing()
    {
        var missing = Path.Combine(_work, "nope", "demo");
        var (exit, _, error) = await Cli.RunAsync("ls", missing);
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(error, Does.Contain($"'{missing}' does not exist"));
        Assert.That(Directory.Exists(Path.Combine(_work, "nope")), Is.False);
    }

    [Test]
    public async Task Verify_of_a_store_instead_of_a_run_says_to_name_a_run()
    {
        var store = Path.Combine(_work, "checkpoints");
        await TrainingRun.RunAsync(store, "demo", steps: 2, every: 2);
        var (exit, _, error) = await Cli.RunAsync("verify", store);
        Assert.That(exit, Is.EqualTo(2), error);
        Assert.That(error, Does.Contain($"name a run, e.g. {store}/demo"));
    }

    [Test]
    public async Task An_unknown_scheme_lists_the_supported_ones_instead_of_package_advice()
    {
        var (exit, _, error) = await Cli.RunAsync("ls", "ftp://x/demo");
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(error, Does.Contain("'ftp://' is not a store spotckpt can open").And.Contain("s3://").And.Contain("az://container")
            .And.Not.Contain("provider package"));
    }

    [TestCase("s3://", "'s3://' names no bucket")]
    [TestCase("az://", "'az://' names no container")]
    public async Task A_uri_without_a_bucket_reads_as_typed(string uri, string expected)
    {
        var (exit, _, error) = await Cli.RunAsync("ls", uri);
        Assert.That(exit, Is.EqualTo(2), error);
        Assert.That(error, Does.Contain(expected).And.Not.Contain(":///").And.Not.Contain("(Parameter"));
    }

    [Test]
    public async Task A_sas_signature_in_a_uri_is_not_echoed()
    {
        const string signature = "k3Y%2Bq9vXz0abcdEFGHijklMNOPqrstuVWXyz0123456%3D";
        var (exit, _, error) = await Cli.RunAsync("verify", $"https://acct.blob.core.windows.net/c?sv=2024-08-04&sr=c&sp=rl&sig={signature}");
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(error, Does.Contain("https://acct.blob.core.windows.net/c?sv=***&sr=***&sp=***&sig=***").And.Not.Contain(signature));
    }

    [Test]
    public async Task Ls_writes_plain_columns_without_box_drawing_when_output_is_not_a_terminal()
    {
        var store = Path.Combine(_work, "ckpt");
        await TrainingRun.RunAsync(store, "demo", steps: 4, every: 2);
        var (exit, output, error) = await Cli.RunAsync("ls", Path.Combine(store, "demo"));
        Assert.That(exit, Is.Zero, error);
        Assert.That(output, Does.Contain("step").And.Contain("state"));
        Assert.That(output, Does.Not.Contain("│").And.Not.Contain("╭").And.Not.Contain("─"));
    }
}
