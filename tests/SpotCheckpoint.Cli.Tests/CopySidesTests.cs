using SpotCheckpoint.Storage;
using SpotCheckpoint.Testing;

namespace SpotCheckpoint.Cli.Tests;

/// <summary>
/// <c>copy</c> with its own endpoint and AWS profile per side (<c>--from-endpoint/--from-profile</c>,
/// <c>--to-endpoint/--to-profile</c>), against the S3 emulator: two prefixes stand for two S3-compatible services.
/// The profiles live in temporary shared config and credentials files (AWS_CONFIG_FILE,
/// AWS_SHARED_CREDENTIALS_FILE), so nothing is read from the user's ~/.aws and no SDK looks anywhere else.
/// </summary>
[NonParallelizable] // the AWS file variables are process-wide
public sealed class CopySidesTests
{
    private const string BadSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
    private StoreUnderTest _source = null!;
    private StoreUnderTest _destination = null!;
    private string _files = null!;
    private string _endpoint = null!;
    private Dictionary<long, string> _hashes = null!;
    private readonly Dictionary<string, string?> _saved = new();

    [SetUp]
    public async Task SetUp()
    {
        _source = EmulatedStores.Create("s3");
        _destination = EmulatedStores.Create("s3");
        _endpoint = EmulatorEndpoints.Require().S3Endpoint;
        _hashes = await TrainingRun.RunAsync(_source.Root, "demo", steps: 8, every: 4);

        _files = Path.Combine(Path.GetTempPath(), "spotckpt-aws-profiles", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_files);
        // s3rver takes only the key S3RVER and cannot parse the SDK's streamed trailing checksums (EmulatedStores).
        await File.WriteAllTextAsync(Path.Combine(_files, "credentials"), $"""
            [emulator-a]
            aws_access_key_id = S3RVER
            aws_secret_access_key = S3RVER
            [emulator-b]
            aws_access_key_id = S3RVER
            aws_secret_access_key = S3RVER
            [wrong-keys]
            aws_access_key_id = AKIAIOSFODNN7EXAMPLE
            aws_secret_access_key = {BadSecret}
            """);
        await File.WriteAllTextAsync(Path.Combine(_files, "config"), """
            [profile emulator-a]
            region = us-east-1
            request_checksum_calculation = when_required
            response_checksum_validation = when_required
            [profile emulator-b]
            region = us-east-1
            request_checksum_calculation = when_required
            response_checksum_validation = when_required
            [profile wrong-keys]
            region = us-east-1
            request_checksum_calculation = when_required
            response_checksum_validation = when_required
            """);
        Set("AWS_SHARED_CREDENTIALS_FILE", Path.Combine(_files, "credentials"));
        Set("AWS_CONFIG_FILE", Path.Combine(_files, "config"));
    }

    private void Set(string name, string value)
    {
        _saved[name] = Environment.GetEnvironmentVariable(name);
        Environment.SetEnvironmentVariable(name, value);
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var (name, value) in _saved) Environment.SetEnvironmentVariable(name, value);
        _source.Dispose();
        _destination.Dispose();
        try { Directory.Delete(_files, recursive: true); } catch (IOException) { }
    }

    [Test]
    public async Task Each_side_uses_its_own_endpoint_and_profile()
    {
        var json = await Cli.JsonAsync("copy", _source.RunUri("demo"), _destination.RunUri("demo"),
            "--from-endpoint", _endpoint, "--from-profile", "emulator-a", "--to-endpoint", _endpoint, "--to-profile", "emulator-b");

        Assert.That(json.GetProperty("checkpoints").EnumerateArray().Select(e => e.GetProperty("status").GetString()), Is.EqualTo(new[] { "copied", "copied" }));
        Assert.That(await TrainingRun.ResumeAsync(_destination.Root, "demo"), Is.EqualTo((8L, _hashes[8])));
    }

    [Test]
    public async Task The_destination_profile_is_the_one_used_for_the_destination()
    {
        // The same copy with keys the emulator refuses on the destination side only: that side fails, and the
        // secret of the refused profile appears nowhere.
        var (exit, output, error) = await Cli.RunAsync("copy", _source.RunUri("demo"), _destination.RunUri("demo"),
            "--from-endpoint", _endpoint, "--from-profile", "emulator-a", "--to-endpoint", _endpoint, "--to-profile", "wrong-keys");

        Assert.That(exit, Is.EqualTo(1), output + error);
        Assert.That(output + error, Does.Not.Contain(BadSecret));
        await using var destination = CheckpointStores.Open(_destination.Root);
        Assert.That(await CheckpointCatalog.ListAsync(destination, "demo"), Is.Empty);
    }

    [Test]
    public async Task An_unknown_profile_is_a_usage_error()
    {
        var (exit, _, error) = await Cli.RunAsync("copy", _source.RunUri("demo"), _destination.RunUri("demo"), "--to-profile", "no-such-profile");
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(error, Does.Contain("--to-profile").And.Contain("no-such-profile"));
    }

    [Test]
    public async Task Side_options_on_a_store_that_is_not_s3_are_a_usage_error()
    {
        var local = Path.Combine(_files, "local", "demo");
        var (exit, _, error) = await Cli.RunAsync("copy", _source.RunUri("demo"), local, "--to-endpoint", _endpoint);
        Assert.That(exit, Is.EqualTo(2));
        Assert.That(error, Does.Contain("apply to s3:// locations"));
    }
}
