using SpotCheckpoint.Testing;
using SpotCheckpoint.Storage.S3;
using SpotCheckpoint.Storage.Tests.Common;
using SpotCheckpoint.Storage.Tests.Emulators;
using SpotCheckpoint.Storage.Tests.Proxy;

namespace SpotCheckpoint.Storage.Tests.S3;

/// <summary>
/// S3 buckets whose ETags are not MD5s (SSE-KMS, DSSE-KMS, SSE-C), through the proxy's KMS answer mode, and the
/// lost answer to CompleteMultipartUpload.
/// </summary>
public sealed class S3KmsBucketTests
{
    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static async Task<byte[]> ReadAllAsync(ICheckpointStore store, string key, int length)
    {
        var back = new byte[length + 1];
        int read = await store.ReadAsync(key, 0, back);
        return back[..read];
    }

    [TestCase(1 << 20, TestName = "A single-request object in a KMS bucket commits and reads back")]
    [TestCase(12 << 20, TestName = "A multipart object in a KMS bucket commits and reads back")]
    public async Task Kms_bucket_uploads_verify(int length)
    {
        var e = EmulatorEndpoints.Require();
        await using var proxy = await FaultProxy.StartAsync(TestStores.Upstream(Provider.S3));
        proxy.Plan.KmsBucket = true;
        await using var store = new S3CheckpointStore(TestStores.S3Options(e, TestStores.UniquePrefix("kms"), proxy.Address.ToString()));
        var data = Pattern(length, length);
        await using (var writer = await store.OpenWriteAsync("run/shard"))
        {
            await writer.WriteAsync(data);
            await writer.CompleteAsync();
        }
        Assert.That(await ReadAllAsync(store, "run/shard", length), Is.EqualTo(data));
    }

    [Test]
    public async Task A_lost_answer_to_CompleteMultipartUpload_is_settled_by_the_objects_checksum()
    {
        var e = EmulatorEndpoints.Require();
        await using var proxy = await FaultProxy.StartAsync(TestStores.Upstream(Provider.S3));
        // The store completes the upload, the answer never arrives; the retry then finds no such upload.
        static bool Complete(string method, string path) => method == "POST" && path.Contains("uploadId=", StringComparison.Ordinal);
        proxy.Plan.Force(Fault.ResetAfterStore, Complete);
        // As S3 answers a repeated completion (s3rver answers 500 instead).
        proxy.Plan.ForceAnswer(404, "NoSuchUpload", (method, path) => Complete(method, path) && proxy.Plan.ForcedGiven == 1);
        await using var store = new S3CheckpointStore(TestStores.S3Options(e, TestStores.UniquePrefix("lost"), proxy.Address.ToString()));
        var data = Pattern(12 << 20, 5);
        await using (var writer = await store.OpenWriteAsync("run/shard"))
        {
            await writer.WriteAsync(data);
            await writer.CompleteAsync();
        }
        Assert.That(proxy.Plan.ForcedGiven, Is.EqualTo(1), "the answer was dropped once");
        Assert.That(await ReadAllAsync(store, "run/shard", data.Length), Is.EqualTo(data));
    }
}

/// <summary>The sample trainer against S3 through the KMS answer mode: stopped, resumed, bit-identical.</summary>
public sealed class S3KmsTrainerTests() : WorkDirectoryFixture("spotckpt-stores")
{
    private static string[] Common(string uri) =>
        ["--steps", "30", "--checkpoint-every", "10", "--model-mb", "0.5", "--seed", "11", "--quiet", "--checkpoint-uri", uri];

    [Test]
    public async Task Train_stop_and_resume_through_a_kms_bucket_ends_with_the_straight_runs_hash()
    {
        var e = EmulatorEndpoints.Require();
        await using var proxy = await FaultProxy.StartAsync(TestStores.Upstream(Provider.S3));
        proxy.Plan.KmsBucket = true;
        var env = TrainerProcess.EmulatorEnvironment(e);
        env["AWS_ENDPOINT_URL_S3"] = proxy.Address.ToString();
        var uri = $"s3://{e.S3Bucket}/{TestStores.UniquePrefix("kms-trainer")}";

        var straight = await TrainerProcess.RunAsync(Work, env, [.. Common(Path.Combine(Work, "straight")), "--run-id", "straight"]);
        Assert.That(straight.ExitCode, Is.Zero, straight.StdErr);
        var first = await TrainerProcess.RunAsync(Work, env, [.. Common(uri), "--stop-at", "15"]);
        Assert.That(first.ExitCode, Is.Zero, first.StdErr);
        var second = await TrainerProcess.RunAsync(Work, env, Common(uri));
        Assert.That(second.ExitCode, Is.Zero, second.StdErr);
        Assert.That(second.Summary!.ResumedFromStep, Is.EqualTo(15));
        Assert.That(second.Summary.FinalStateSha256, Is.EqualTo(straight.Summary!.FinalStateSha256));
    }
}
