using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Hosting.Tests;

/// <summary>A misconfigured location with a SAS signature or key in it never shows the secret in the start-up error or a log.</summary>
public sealed class SecretRedactionTests
{
    // Real-looking values: a base64 SAS signature and an account key of the right length.
    private const string Signature = "Xk9vQ2Zl3m4N7pR8sT1uV5wY0zA6bC2dE4fG8hJ1kL0%3D";
    private const string AccountKey = "q8Zx3Vb7Nm1Lk5Jh9Gf2Ds6Aq0Wp4Eo8Ri3Tu7Yc1Xv5Bn9Mm2Kl6Jj0Hh4Gg8Ff3Dd7Ss1Aa5Qq9Ww2Ee6Rr0Tt==";

    [TestCase("nosuchstore://bucket/prefix?sv=2025-05-05&se=2030-01-01&sp=rwdl&sig=" + Signature)]
    [TestCase("https://acct.example.com/container/prefix?sv=2025-05-05&sig=" + Signature)]
    [TestCase("nosuchstore://user:" + AccountKey + "@bucket/prefix")]
    public void The_validation_error_and_logs_hold_no_secret(string location)
    {
        var logs = new LogRecords();
        var builder = TestHosts.Builder(TestHosts.Settings(location), logs);
        builder.Logging.SetMinimumLevel(LogLevel.Information); // the level a user runs at
        builder.Services.AddSpotCheckpoint(builder.Configuration);
        using var host = builder.Build();
        var ex = Assert.CatchAsync(() => host.StartAsync());
        Assert.That(ex, Is.TypeOf<OptionsValidationException>());
        var output = ex!.ToString() + string.Join('\n', logs.All.Select(r => r.Message));
        Assert.That(ex.Message, Does.Contain("cannot be opened"), "the error still says what is wrong");
        Assert.That(output, Does.Not.Contain(Signature).And.Not.Contain(Uri.UnescapeDataString(Signature)).And.Not.Contain(AccountKey));
    }

    [Test]
    public void Redaction_keeps_the_address_and_drops_every_secret()
    {
        Assert.That(LocationRedaction.Redact("https://acct.blob.core.windows.net/c/p?sv=2025&sig=" + Signature),
            Is.EqualTo("https://acct.blob.core.windows.net/c/p?sv=***&sig=***"));
        Assert.That(LocationRedaction.Redact("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + AccountKey + ";EndpointSuffix=core.windows.net"),
            Is.EqualTo("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=***;EndpointSuffix=core.windows.net"));
        Assert.That(LocationRedaction.Redact("BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2025&sig=" + Signature),
            Does.Not.Contain(Signature).And.Contain("BlobEndpoint=https://a.blob.core.windows.net/"));
        Assert.That(LocationRedaction.Redact("s3://AKIAIOSFODNN7EXAMPLE:" + AccountKey + "@bucket/p"), Is.EqualTo("s3://***@bucket/p"));
        Assert.That(LocationRedaction.Redact("gs://bucket/runs/a"), Is.EqualTo("gs://bucket/runs/a"));
        Assert.That(LocationRedaction.Redact("/data/ckpt"), Is.EqualTo("/data/ckpt"));
    }
}
