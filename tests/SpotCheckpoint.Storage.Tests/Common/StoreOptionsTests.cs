using Amazon.Runtime;
using Azure.Core;
using SpotCheckpoint.Storage.AzureBlob;
using SpotCheckpoint.Storage.Gcs;
using SpotCheckpoint.Storage.S3;

namespace SpotCheckpoint.Storage.Tests.Common;

/// <summary>Encryption, storage-class and limit options; the Azure credential chain; S3's upload check. No network.</summary>
[NonParallelizable]
public sealed class StoreOptionsTests
{
    private static S3StoreOptions S3(Action<S3StoreOptions>? change = null)
    {
        var o = new S3StoreOptions { BucketName = "b", ServiceUrl = "http://127.0.0.1:1", Credentials = new BasicAWSCredentials("id", "secret") };
        change?.Invoke(o);
        return o;
    }

    [Test]
    public void Encryption_and_storage_class_options_are_validated_with_the_option_named()
    {
        Assert.That(S3(o => o.KmsKeyId = "alias/ckpt").EffectiveEncryption, Is.EqualTo(S3Encryption.Kms), "a key id alone means SSE-KMS");
        string Param(Action a) => Assert.Throws(Is.InstanceOf<ArgumentException>(), () => a())!.GetType().GetProperty("ParamName")!.GetValue(Assert.Catch(() => a()))!.ToString()!;
        Assert.That(Param(() => new S3CheckpointStore(S3(o => { o.KmsKeyId = "k"; o.Encryption = S3Encryption.S3Managed; }))), Is.EqualTo("KmsKeyId"));
        Assert.That(Param(() => new S3CheckpointStore(S3(o => o.BucketKeyEnabled = true))), Is.EqualTo("BucketKeyEnabled"));
        Assert.That(Param(() => new S3CheckpointStore(S3(o => o.StorageClass = "DEEP_ARCHIVE"))), Is.EqualTo("StorageClass"));
        Assert.That(Param(() => new S3CheckpointStore(S3(o => o.MaxAttempts = 0))), Is.EqualTo("MaxAttempts"));
        Assert.That(Param(() => new GcsCheckpointStore(new GcsStoreOptions { BucketName = "b", EmulatorHost = "127.0.0.1:1", KmsKeyName = "my-key" })), Is.EqualTo("KmsKeyName"));
        Assert.That(Param(() => new GcsCheckpointStore(new GcsStoreOptions { BucketName = "b", EmulatorHost = "127.0.0.1:1", StorageClass = "FAST" })), Is.EqualTo("StorageClass"));
        var az = new AzureBlobStoreOptions { ContainerName = "c", ConnectionString = "UseDevelopmentStorage=true", AccessTier = "Archive" };
        Assert.That(Param(() => new AzureBlobCheckpointStore(az)), Is.EqualTo("AccessTier"));
        az.AccessTier = "cool";
        az.EncryptionScope = "bad scope!";
        Assert.That(Param(() => new AzureBlobCheckpointStore(az)), Is.EqualTo("EncryptionScope"));
        Assert.That(new S3StoreOptions { MaxRetries = 4 }.MaxAttempts, Is.EqualTo(5), "MaxRetries is MaxAttempts - 1 everywhere");
    }

    [Test]
    public async Task An_object_too_large_for_s3_is_refused_before_anything_is_sent()
    {
        await using var store = new S3CheckpointStore(S3());
        ICheckpointStore plain = store;
        var ex = Assert.ThrowsAsync<CheckpointStoreException>(async () => await plain.OpenWriteAsync("run/shard", 6L << 40));
        Assert.That(ex!.Message, Does.Contain("run/shard").And.Contain("at most"));
        await using var writer = await plain.OpenWriteAsync("run/shard", 200L << 30); // 200 GiB: 10,000 parts of 21 MiB
        Assert.That(writer, Is.Not.Null);
    }

    [Test]
    public async Task An_https_account_without_key_or_sas_uses_the_identity_chain()
    {
        var saved = (Environment.GetEnvironmentVariable("AZURE_STORAGE_CONNECTION_STRING"), AzureBlobClientFactory.DefaultCredential);
        var chain = new RecordingCredential();
        try
        {
            Environment.SetEnvironmentVariable("AZURE_STORAGE_CONNECTION_STRING", null);
            AzureBlobClientFactory.DefaultCredential = () => chain; // the test never lets DefaultAzureCredential probe metadata
            await using var store = new AzureBlobCheckpointStore(AzureBlobStoreOptions.FromUri(new Uri("https://acct.blob.core.windows.net/c/runs")));
            Assert.That(chain.Created, Is.True, "the credential chain was chosen");
            Assert.That(store.Description, Is.EqualTo("https://acct.blob.core.windows.net/c/runs/"));
            var plainHttp = Assert.Throws<ArgumentException>(() => new AzureBlobCheckpointStore(new AzureBlobStoreOptions { ContainerName = "c", ServiceUri = new Uri("http://127.0.0.1:1/acct") }));
            Assert.That(plainHttp!.Message, Does.Contain("No credential"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("AZURE_STORAGE_CONNECTION_STRING", saved.Item1);
            AzureBlobClientFactory.DefaultCredential = saved.DefaultCredential;
        }
    }

    private sealed class RecordingCredential : TokenCredential
    {
        public RecordingCredential() => Created = true;
        public bool Created { get; }
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) => throw new InvalidOperationException("no token in tests");
        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) => throw new InvalidOperationException("no token in tests");
    }

    private static readonly S3UploadCheck.Expected Multipart = new(12 << 20, 3,
        S3UploadCheck.CompositeCrc32C(["AAAAAQ==", "AAAAAg==", "AAAAAw=="]), "0123456789abcdef0123456789abcdef-3");

    [Test]
    public void S3_trusts_the_flexible_checksum_and_the_etag_only_where_it_is_an_md5()
    {
        var options = S3();
        // A KMS bucket: the ETag has the MD5 shape but is not one; the checksum decides.
        Assert.That(S3UploadCheck.Problem(options, Multipart, new(12 << 20, Multipart.Crc32C, "\"ffffffffffffffffffffffffffffffff-3\"", "aws:kms", false), requireProof: false), Is.Null);
        Assert.That(S3UploadCheck.Problem(options, Multipart, new(12 << 20, "AAAAAA==-3", null, "aws:kms", false), requireProof: false), Does.Contain("CRC32C"));
        Assert.That(S3UploadCheck.Problem(options, Multipart, new(12 << 20, null, "\"ffffffffffffffffffffffffffffffff-3\"", "aws:kms", false), requireProof: false), Is.Null,
            "KMS without a checksum: the parts' checksums verified on arrival stand");
        Assert.That(S3UploadCheck.Problem(options, Multipart, new(12 << 20, null, "\"ffffffffffffffffffffffffffffffff-3\"", null, true), requireProof: false), Is.Null, "SSE-C ETags are no MD5s either");
        // No encryption: the ETag is S3's MD5 scheme and is checked.
        Assert.That(S3UploadCheck.Problem(options, Multipart, new(12 << 20, null, "\"ffffffffffffffffffffffffffffffff-3\"", null, false), requireProof: false), Does.Contain("ETag"));
        Assert.That(S3UploadCheck.Problem(options, Multipart, new(12 << 20, null, "\"" + Multipart.Md5ETag + "\"", "AES256", false), requireProof: false), Is.Null);
        // A lost answer needs proof; a length mismatch always fails; the asked-for encryption must be there.
        Assert.That(S3UploadCheck.Problem(options, Multipart, new(12 << 20, null, "\"x\"", "aws:kms", false), requireProof: true), Does.Contain("lost"));
        Assert.That(S3UploadCheck.Problem(options, Multipart, new(1, Multipart.Crc32C, null, null, false), requireProof: false), Does.Contain("bytes"));
        Assert.That(S3UploadCheck.Problem(S3(o => o.KmsKeyId = "alias/k"), Multipart, new(12 << 20, Multipart.Crc32C, null, "AES256", false), requireProof: false), Does.Contain("aws:kms"));
    }
}
