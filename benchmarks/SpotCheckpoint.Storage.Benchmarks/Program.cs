// Object-store throughput against the local emulators (tests/emulators/start.sh must have run): for each store,
// SpotCheckpoint's streaming upload (16 MiB writes, as shards are written) and ranged download (16 MiB reads, as
// shards are read) of the same bytes as the SDK's own one-call upload and download, reported as MB/s and ratios.
// Usage: dotnet run -c Release --project benchmarks/SpotCheckpoint.Storage.Benchmarks [-- --mib 120 --runs 3]
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Transfer;
using Azure.Storage.Blobs;
using Google.Cloud.Storage.V1;
using SpotCheckpoint.Storage;
using SpotCheckpoint.Storage.AzureBlob;
using SpotCheckpoint.Storage.Gcs;
using SpotCheckpoint.Storage.S3;

int mib = 120, runs = 3;
for (int i = 0; i + 1 < args.Length; i += 2)
{
    if (args[i] == "--mib") mib = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
    if (args[i] == "--runs") runs = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
}
var envFile = Path.Combine(AppContext.BaseDirectory, "../../../../../tests/emulators/.state/endpoints.env");
if (!File.Exists(envFile))
{
    Console.Error.WriteLine("Start the emulators first: tests/emulators/start.sh");
    return 2;
}
var env = File.ReadAllLines(envFile).Where(l => l.Contains('=')).ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..]);
var data = new byte[mib << 20];
new Random(1).NextBytes(data);
var digest = SHA256.HashData(data);
const int Chunk = 16 << 20;

// The emulator configuration the tests use (see tests/SpotCheckpoint.Storage.Tests/Emulators/TestStores.cs), with
// the stores' production part sizes and parallelism except GCS, whose emulator needs one chunk per object.
var s3Credentials = new BasicAWSCredentials("S3RVER", "S3RVER");
var s3Config = new AmazonS3Config
{
    ServiceURL = env["SPOTCKPT_S3_ENDPOINT"], ForcePathStyle = true, AuthenticationRegion = "us-east-1",
    RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED, ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
};
var azure = env["SPOTCKPT_AZURE_CONNECTION_STRING"];
var container = new BlobContainerClient(azure, env["SPOTCKPT_AZURE_CONTAINER"]);
await container.CreateIfNotExistsAsync();
var gcsClient = new StorageClientBuilder { BaseUri = env["SPOTCKPT_GCS_ENDPOINT"] + "/storage/v1/", UnauthenticatedAccess = true }.Build();

var stores = new (string Name, Func<string, ICheckpointStore> Open, Func<string, Task> RawUpload, Func<string, Task> RawDownload)[]
{
    ("S3 (s3rver)", prefix => new S3CheckpointStore(new S3StoreOptions
        {
            BucketName = env["SPOTCKPT_S3_BUCKET"], Prefix = prefix, ServiceUrl = env["SPOTCKPT_S3_ENDPOINT"], Region = "us-east-1", Credentials = s3Credentials,
            ConfigureClient = c => { c.RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED; c.ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED; },
        }),
        async name =>
        {
            using var client = new AmazonS3Client(s3Credentials, s3Config);
            using var transfer = new TransferUtility(client);
            await transfer.UploadAsync(new MemoryStream(data, writable: false), env["SPOTCKPT_S3_BUCKET"], name);
        },
        async name =>
        {
            using var client = new AmazonS3Client(s3Credentials, s3Config);
            using var response = await client.GetObjectAsync(env["SPOTCKPT_S3_BUCKET"], name);
            await Drain(response.ResponseStream);
        }),
    ("Azure Blob (Azurite)", prefix => new AzureBlobCheckpointStore(new AzureBlobStoreOptions { ContainerName = env["SPOTCKPT_AZURE_CONTAINER"], Prefix = prefix, ConnectionString = azure }),
        name => container.GetBlobClient(name).UploadAsync(new BinaryData(data), overwrite: true),
        async name => await Drain((await container.GetBlobClient(name).DownloadStreamingAsync()).Value.Content)),
    ("GCS (Firebase emulator)", prefix => new GcsCheckpointStore(new GcsStoreOptions
        {
            BucketName = env["SPOTCKPT_GCS_BUCKET"], Prefix = prefix, EmulatorHost = env["SPOTCKPT_GCS_ENDPOINT"], ChunkSize = 128 << 20,
        }),
        name => gcsClient.UploadObjectAsync(env["SPOTCKPT_GCS_BUCKET"], name, "application/octet-stream", new MemoryStream(data, writable: false), new UploadObjectOptions { ChunkSize = 128 << 20 }),
        name => gcsClient.DownloadObjectAsync(env["SPOTCKPT_GCS_BUCKET"], name, new CountingStream())),
};

Console.WriteLine($"{mib} MiB object, median of {runs} runs, MB/s (10^6 bytes per second)");
Console.WriteLine();
Console.WriteLine("| store (emulator) | SpotCheckpoint upload | SDK upload | ratio | SpotCheckpoint download | SDK download | ratio |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
foreach (var (name, open, rawUpload, rawDownload) in stores)
{
    var prefix = $"bench-{Guid.NewGuid():N}";
    await using var store = open(prefix);
    var up = new List<double>(); var down = new List<double>(); var rawUp = new List<double>(); var rawDown = new List<double>();
    var buffer = new byte[data.Length];
    for (int run = 0; run <= runs; run++) // run 0 warms up
    {
        var key = $"obj-{run}";
        var clock = Stopwatch.StartNew();
        await using (var writer = await store.OpenWriteAsync(key))
        {
            for (int o = 0; o < data.Length; o += Chunk) await writer.WriteAsync(data.AsMemory(o, Math.Min(Chunk, data.Length - o)));
            await writer.CompleteAsync();
        }
        double u = data.Length / clock.Elapsed.TotalSeconds / 1e6;
        clock.Restart();
        for (int o = 0; o < data.Length; o += Chunk) await store.ReadAsync(key, o, buffer.AsMemory(o, Math.Min(Chunk, data.Length - o)));
        double d = data.Length / clock.Elapsed.TotalSeconds / 1e6;
        if (!SHA256.HashData(buffer).SequenceEqual(digest)) throw new InvalidOperationException($"{name}: the download differs from the upload");
        await store.DeleteAsync(key);

        var rawName = $"{prefix}/raw-{run}";
        clock.Restart();
        await rawUpload(rawName);
        double ru = data.Length / clock.Elapsed.TotalSeconds / 1e6;
        clock.Restart();
        await rawDownload(rawName);
        double rd = data.Length / clock.Elapsed.TotalSeconds / 1e6;
        await store.DeleteAsync($"raw-{run}");
        if (run == 0) continue;
        up.Add(u); down.Add(d); rawUp.Add(ru); rawDown.Add(rd);
    }
    double mu = Median(up), md = Median(down), mru = Median(rawUp), mrd = Median(rawDown);
    Console.WriteLine($"| {name} | {mu:F0} | {mru:F0} | {mu / mru:F2} | {md:F0} | {mrd:F0} | {md / mrd:F2} |");
}
return 0;

static double Median(List<double> values)
{
    values.Sort();
    return values.Count % 2 == 1 ? values[values.Count / 2] : (values[values.Count / 2 - 1] + values[values.Count / 2]) / 2;
}

static async Task Drain(Stream stream)
{
    var scratch = new byte[1 << 20];
    while (await stream.ReadAsync(scratch) > 0) { }
}

/// <summary>A sink that only counts (the SDK's download writes into it).</summary>
sealed class CountingStream : Stream
{
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => Position;
    public override long Position { get; set; }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => Position += count;
}
