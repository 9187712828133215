using SpotCheckpoint.Testing;
using SpotCheckpoint.Storage.Tests.Emulators;

namespace SpotCheckpoint.Storage.Tests.Common;

/// <summary>
/// The sample trainer against each store through its --checkpoint-uri, configured only by the standard environment
/// variables: stopped at K, resumed in a new process, it ends with the straight run's state hash.
/// </summary>
public sealed class TrainerResumeTests() : WorkDirectoryFixture("spotckpt-stores")
{

    // Normal logging (no --quiet): the secrets checks below must see everything a user would.
    private static string[] Common(string uri) =>
        ["--steps", "30", "--checkpoint-every", "10", "--model-mb", "0.5", "--seed", "11", "--checkpoint-uri", uri];

    private static string AccountKeyOf(string connectionString) =>
        connectionString.Split(';').Single(p => p.StartsWith("AccountKey=", StringComparison.Ordinal))["AccountKey=".Length..];

    [TestCase("s3")]
    [TestCase("gs")]
    [TestCase("az")]
    [TestCase("https")]
    public async Task Stopped_and_resumed_against_the_store_ends_with_the_straight_runs_hash(string scheme)
    {
        var e = EmulatorEndpoints.Require();
        if (scheme is "az" or "https") TestStores.AzureOptions(e, "x"); // creates the container
        var env = TrainerProcess.EmulatorEnvironment(e);
        var prefix = TestStores.UniquePrefix("trainer");
        var uri = scheme switch
        {
            "s3" => $"s3://{e.S3Bucket}/{prefix}",
            "gs" => $"gs://{e.GcsBucket}/{prefix}",
            "az" => $"az://{e.AzureContainer}/{prefix}",
            // The account named in the address is the emulator's; its connection string supplies endpoint and key.
            _ => $"https://devstoreaccount1.blob.core.windows.net/{e.AzureContainer}/{prefix}",
        };

        var straight = await TrainerProcess.RunAsync(Work, env, [.. Common(Path.Combine(Work, "straight")), "--run-id", "straight"]);
        Assert.That(straight.ExitCode, Is.Zero, straight.StdErr);

        var first = await TrainerProcess.RunAsync(Work, env, [.. Common(uri), "--stop-at", "15"]);
        Assert.That(first.ExitCode, Is.Zero, first.StdErr);
        Assert.That(first.Summary!.FinalStep, Is.EqualTo(15));

        var second = await TrainerProcess.RunAsync(Work, env, Common(uri));
        Assert.That(second.ExitCode, Is.Zero, second.StdErr);
        Assert.That(second.Summary!.ResumedFromStep, Is.EqualTo(15));
        Assert.That(second.Summary.FinalStep, Is.EqualTo(30));
        Assert.That(second.Summary.FinalStateSha256, Is.EqualTo(straight.Summary!.FinalStateSha256));
        // The credential values themselves, not just their names.
        Assert.That(first.StdErr + second.StdErr, Does.Not.Contain(TestStores.S3rverKey).And.Not.Contain(AccountKeyOf(e.AzureConnectionString)), "no credentials in the output");
    }

    // Real-looking secrets against stores that are down: whatever fails, the values never appear in the output.
    private const string AwsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8mLp3kT7";
    private const string AzureKey = "Zq3v8Lk2Wm9Xp4Rt7Yb1Nc6Hd0Fg5Js8Ka2Ql4Ew7Ur9Ti1Oy3Pa6Sd8Fg0Hj2Kl5Zx7Cv9Bn1Mq3We5Rt7Yu9Io==";

    [TestCase("s3")]
    [TestCase("az")]
    public async Task A_store_that_is_down_never_shows_a_secret(string scheme)
    {
        var e = EmulatorEndpoints.Require();
        var env = TrainerProcess.EmulatorEnvironment(e);
        env["AWS_ENDPOINT_URL_S3"] = "http://127.0.0.1:1";
        env["AWS_SECRET_ACCESS_KEY"] = AwsSecret;
        env["AZURE_STORAGE_CONNECTION_STRING"] = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AzureKey};BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;";
        var uri = scheme == "s3" ? "s3://bucket/down" : "az://container/down";
        var run = await TrainerProcess.RunAsync(Work, env, Common(uri));
        Assert.That(run.ExitCode, Is.Not.Zero, "the store is down");
        Assert.That(run.StdErr, Does.Not.Contain(AwsSecret).And.Not.Contain(AzureKey));
    }
}
