using SpotCheckpoint.Cli.Stores;

namespace SpotCheckpoint.Cli.Tests;

public sealed class RunLocationTests
{
    [TestCase("./checkpoints/demo", "./checkpoints", "demo")]
    [TestCase("checkpoints/demo/", "checkpoints", "demo")]
    [TestCase("demo", ".", "demo")]
    [TestCase("/data/ckpt/run-1.b", "/data/ckpt", "run-1.b")]
    [TestCase("file:///data/ckpt/demo", "file:///data/ckpt", "demo")]
    [TestCase("file:///demo", "file:///", "demo")]
    [TestCase("s3://bucket/demo", "s3://bucket", "demo")]
    [TestCase("s3://bucket/team/ckpt/demo/", "s3://bucket/team/ckpt", "demo")]
    [TestCase("https://acct.blob.core.windows.net/container/prefix/demo", "https://acct.blob.core.windows.net/container/prefix", "demo")]
    public void The_last_segment_is_the_run(string uri, string store, string run)
    {
        Assert.That(RunLocation.Parse(uri), Is.EqualTo(new RunLocation(store, run)));
    }

    [TestCase("s3://bucket", "names no run")]
    [TestCase("gs://bucket/", "names no run")]
    [TestCase("./checkpoints/bad run", "does not end with a run id")]
    [TestCase("", "is empty")]
    public void A_uri_without_a_run_says_so(string uri, string problem)
    {
        var ex = Assert.Throws<ArgumentException>(() => RunLocation.Parse(uri));
        Assert.That(ex!.Message, Does.Contain(problem));
    }
}
