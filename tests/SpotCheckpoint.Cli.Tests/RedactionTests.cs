using SpotCheckpoint.Storage;
namespace SpotCheckpoint.Cli.Tests;

/// <summary>Secrets that users paste into locations, with real-looking values, never come back out of a message.</summary>
public sealed class RedactionTests
{
    private const string Sig = "Xk3Yq9vXz0abcdEFGHijklMNOPqrstuVWXyz012345%3D";
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private const string AwsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    [TestCase("error: cannot reach https://acct.blob.core.windows.net/ckpt/run?sv=2024-08-04&ss=b&srt=co&sp=rwdlac&se=2026-12-31&sig=" + Sig + " (timeout)",
        "https://acct.blob.core.windows.net/ckpt/run?sv=***&ss=***&srt=***&sp=***&se=***&sig=***", Sig)]
    [TestCase("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + AccountKey + ";EndpointSuffix=core.windows.net",
        "AccountName=acct;AccountKey=***;EndpointSuffix=core.windows.net", AccountKey)]
    [TestCase("BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2024-08-04&sig=" + Sig,
        "SharedAccessSignature=***", Sig)]
    [TestCase("aws_secret_access_key = " + AwsSecret, "aws_secret_access_key = ***", AwsSecret)]
    [TestCase("s3://AKIAIOSFODNN7EXAMPLE:" + AwsSecret + "@bucket/prefix/demo", "s3://***@bucket/prefix/demo", AwsSecret)]
    [TestCase("the token sv=2024-08-04&sig=" + Sig + " was refused", "sig=***", Sig)]
    public void A_secret_is_replaced_and_the_location_stays_recognisable(string text, string expected, string secret)
    {
        var redacted = LocationRedaction.Redact(text);
        Assert.That(redacted, Does.Not.Contain(secret));
        Assert.That(redacted, Does.Contain(expected));
    }

    [TestCase("./checkpoints/demo")]
    [TestCase("s3://bucket/team/demo")]
    [TestCase("error: Run 'demo' has no committed checkpoint in file:///data/ckpt/.")]
    public void Text_without_secrets_is_unchanged(string text) => Assert.That(LocationRedaction.Redact(text), Is.EqualTo(text));
}
