using SpotCheckpoint.Testing;
using SpotCheckpoint.Storage.AzureBlob;
using SpotCheckpoint.Storage.Gcs;
using SpotCheckpoint.Storage.S3;
using SpotCheckpoint.Storage.Tests.Emulators;
using SpotCheckpoint.Storage.Tests.Proxy;

namespace SpotCheckpoint.Storage.Tests.Common;

/// <summary>One retry layer per store: the proxy counts the attempts that reach it.</summary>
public sealed class RetryAttemptsTests
{
    private static ICheckpointStore Through(Provider provider, FaultProxy proxy, int attempts) =>
        TestStores.Create(provider, TestStores.UniquePrefix("attempts"), proxy.Address.ToString().TrimEnd('/'), o =>
        {
            // MaxRetries is attempts - 1 on every store.
            switch (o)
            {
                case S3StoreOptions s3: s3.MaxRetries = attempts - 1; break;
                case GcsStoreOptions gcs: gcs.MaxRetries = attempts - 1; break;
                case AzureBlobStoreOptions az: az.MaxRetries = attempts - 1; break;
            }
        });

    [TestCase(Provider.S3)]
    [TestCase(Provider.Gcs)]
    [TestCase(Provider.AzureBlob)]
    public async Task Throttling_is_retried_exactly_the_configured_attempts(Provider provider)
    {
        await using var proxy = await FaultProxy.StartAsync(TestStores.Upstream(provider));
        await using var store = Through(provider, proxy, attempts: 3);
        proxy.Plan.Kinds = [Fault.Throttle];
        proxy.Plan.Rate = 1;
        var ex = Assert.ThrowsAsync<CheckpointStoreException>(async () => await store.ReadAsync("run/missing", 0, new byte[16]));
        Assert.That(proxy.Plan.Requests, Is.EqualTo(3), $"three attempts in all, no SDK retries under the store's own ({ex!.InnerException?.GetType().Name}: {ex.Message})");
    }

    [TestCase(Provider.S3, "s3:PutObject")]
    [TestCase(Provider.Gcs, "roles/storage.objectUser")]
    [TestCase(Provider.AzureBlob, "Storage Blob Data Contributor")]
    public async Task Access_denied_fails_at_once_saying_what_to_grant(Provider provider, string advice)
    {
        await using var proxy = await FaultProxy.StartAsync(TestStores.Upstream(provider));
        await using var store = Through(provider, proxy, attempts: 5);
        proxy.Plan.DenyAccess = true;
        var ex = Assert.ThrowsAsync<CheckpointStoreException>(async () =>
        {
            await using var writer = await store.OpenWriteAsync("run/denied");
            await writer.WriteAsync(new byte[1000]);
            await writer.CompleteAsync();
        });
        Assert.That(proxy.Plan.Requests, Is.EqualTo(1), "no retry of a refusal");
        Assert.That(ex!.Message, Does.Contain("access denied:").And.Contain(advice));
    }

    [Test]
    public void Missing_aws_credentials_are_not_retried()
    {
        var noCredentials = new Amazon.Runtime.AmazonClientException("Failed to resolve AWS credentials. The credential providers used to search for credentials returned the following errors: ...");
        Assert.That(S3ClientFactory.IsTransient(noCredentials), Is.False);
    }

    [Test]
    public void A_store_that_does_not_implement_an_operation_is_not_asked_again()
    {
        // S3-compatible stores answer 501 for what they lack (ListMultipartUploads on some): retrying only delays
        // retention by the whole backoff, every pass.
        var notImplemented = new Amazon.S3.AmazonS3Exception("not implemented") { StatusCode = System.Net.HttpStatusCode.NotImplemented };
        var unavailable = new Amazon.S3.AmazonS3Exception("busy") { StatusCode = System.Net.HttpStatusCode.ServiceUnavailable };
        Assert.That(S3ClientFactory.IsTransient(notImplemented), Is.False);
        Assert.That(S3ClientFactory.IsTransient(unavailable), Is.True);
    }
}
