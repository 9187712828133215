using Amazon.S3;
using Amazon.S3.Model;
using SpotCheckpoint.Storage.S3;
using SpotCheckpoint.Storage.Tests.Emulators;

namespace SpotCheckpoint.Storage.Tests.S3;

/// <summary>Retention's clean-up aborts multipart uploads that a crashed writer left behind.</summary>
public sealed class S3IncompleteUploadTests
{
    [Test]
    public async Task Stale_multipart_uploads_are_aborted_and_fresh_ones_kept()
    {
        var e = EmulatorEndpoints.Require();
        var prefix = TestStores.UniquePrefix("mpu");
        var options = TestStores.S3Options(e, prefix);
        await using var store = new S3CheckpointStore(options);
        using var client = new AmazonS3Client(options.Credentials, new AmazonS3Config { ServiceURL = options.ServiceUrl, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
        var crashed = await client.InitiateMultipartUploadAsync(e.S3Bucket, $"{prefix}/run/step-00000001/shard-00000.x.safetensors");

        Assert.That(await store.CleanupIncompleteAsync("run/", TimeSpan.FromHours(1)), Is.Zero, "too young");
        Assert.That(await store.CleanupIncompleteAsync("run/", TimeSpan.Zero), Is.EqualTo(1));
        var left = await client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = e.S3Bucket, Prefix = prefix + "/" });
        Assert.That((left.MultipartUploads ?? []).Select(u => u.UploadId), Does.Not.Contain(crashed.UploadId));
    }
}
