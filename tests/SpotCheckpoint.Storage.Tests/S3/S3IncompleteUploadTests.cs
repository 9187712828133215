using SpotCheckpoint.Testing;
using Amazon.S3;
using Amazon.S3.Model;
using SpotCheckpoint.Storage.S3;
using SpotCheckpoint.Storage.Tests.Emulators;

namespace SpotCheckpoint.Storage.Tests.S3;

/// <summary>Incomplete multipart uploads: writers abort their own; retention's clean-up copes with stores that cannot list them.</summary>
public sealed class S3IncompleteUploadTests
{
    [Test]
    public async Task Clean_up_on_a_store_that_cannot_list_uploads_reports_nothing_and_does_not_fail_retention()
    {
        // s3rver does not implement ListMultipartUploads (501); AWS does, and then stale uploads are aborted.
        var e = EmulatorEndpoints.Require();
        var prefix = TestStores.UniquePrefix("mpu");
        var options = TestStores.S3Options(e, prefix);
        await using var store = new S3CheckpointStore(options);
        using var client = new AmazonS3Client(options.Credentials, new AmazonS3Config { ServiceURL = options.ServiceUrl, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
        await client.InitiateMultipartUploadAsync(e.S3Bucket, $"{prefix}/run/step-00000001/shard-00000.x.safetensors");
        Assert.That(await store.CleanupIncompleteAsync("run/", TimeSpan.Zero), Is.Zero);
        Assert.That(await CheckpointCatalog.ApplyRetentionAsync(store, "run", keepLast: 1, TimeSpan.FromSeconds(1)), Is.Zero);
    }

    [Test]
    public async Task An_abandoned_writer_aborts_its_multipart_upload()
    {
        var e = EmulatorEndpoints.Require();
        var prefix = TestStores.UniquePrefix("abort");
        var options = TestStores.S3Options(e, prefix);
        var recorder = new RecordingHandler();
        options.ConfigureClient += config => config.HttpClientFactory = new RecordingFactory(recorder);
        await using var store = new S3CheckpointStore(options);
        await using (var writer = await store.OpenWriteAsync("run/step-00000001/shard"))
        {
            await writer.WriteAsync(new byte[12 << 20]); // two full parts on their way, then abandoned
        }
        var requests = recorder.Requests;
        Assert.That(requests, Has.Some.Matches<string>(r => r.StartsWith("POST", StringComparison.Ordinal) && r.Contains("uploads", StringComparison.Ordinal)), "a multipart upload was started");
        Assert.That(requests, Has.Some.Matches<string>(r => r.StartsWith("DELETE", StringComparison.Ordinal) && r.Contains("uploadId=", StringComparison.Ordinal)), "and aborted");
        Assert.That(await store.GetLengthAsync("run/step-00000001/shard"), Is.Null);
    }

    private sealed class RecordingHandler : DelegatingHandler
    {
        private readonly List<string> _requests = new();
        public RecordingHandler() : base(new SocketsHttpHandler { UseProxy = false }) { }
        public IReadOnlyList<string> Requests { get { lock (_requests) return _requests.ToList(); } }
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (_requests) _requests.Add($"{request.Method} {request.RequestUri}");
            return base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class RecordingFactory(RecordingHandler handler) : Amazon.Runtime.HttpClientFactory
    {
        public override HttpClient CreateHttpClient(Amazon.Runtime.IClientConfig clientConfig) => new(handler, disposeHandler: false);
        public override bool UseSDKHttpClientCaching(Amazon.Runtime.IClientConfig clientConfig) => false;
        public override bool DisposeHttpClientsAfterUse(Amazon.Runtime.IClientConfig clientConfig) => false;
    }
}
