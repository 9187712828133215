using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using Google;
using Google.Cloud.Storage.V1;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SpotCheckpoint.Storage.Gcs;

/// <summary>
/// Checkpoints in Google Cloud Storage (<c>gs://bucket/prefix</c>). Objects stream up through resumable uploads in
/// chunks of a multiple of 256 KiB, the last request carrying the object's CRC32C; size and CRC32C are checked after
/// the upload. The manifest commit uses <c>ifGenerationMatch=0</c>. Reads are parallel ranged downloads.
/// See docs/storage.md.
/// </summary>
public sealed class GcsCheckpointStore : ICheckpointStore
{
    private readonly StorageClient _client;
    private readonly bool _ownsClient;
    private readonly ILogger _logger;

    /// <summary>Creates a store; the client is built from <paramref name="options"/> and disposed with the store.</summary>
    public GcsCheckpointStore(GcsStoreOptions options, ILoggerFactory? loggerFactory = null)
        : this(Validated(options), GcsClientFactory.Create(options), ownsClient: true, loggerFactory)
    {
    }

    /// <summary>Creates a store over a client you configured (not disposed by the store). Emulator and credential options are ignored.</summary>
    public GcsCheckpointStore(StorageClient client, GcsStoreOptions options, ILoggerFactory? loggerFactory = null)
        : this(Validated(options), client ?? throw new ArgumentNullException(nameof(client)), ownsClient: false, loggerFactory)
    {
    }

    private GcsCheckpointStore(GcsStoreOptions options, StorageClient client, bool ownsClient, ILoggerFactory? loggerFactory)
    {
        Options = options;
        _client = client;
        _ownsClient = ownsClient;
        _logger = (ILogger?)loggerFactory?.CreateLogger<GcsCheckpointStore>() ?? NullLogger.Instance;
        Location = new ObjectLocation(options.BucketName, ObjectLocation.NormalizePrefix(options.Prefix));
        Operation = new StoreOperation(options.OperationTimeout, options.MaxAttempts, GcsClientFactory.IsTransient, GcsClientFactory.Unrecoverable);
        Buffers = new PartBufferPool(options.ChunkSize, keep: 2);
        Http = client.Service.HttpClient;
        // https://storage.googleapis.com/storage/v1/ → https://storage.googleapis.com/upload/storage/v1/
        var api = client.Service.BaseUri;
        const string path = "storage/v1/";
        ApiBase = api.EndsWith('/') ? api : api + "/";
        UploadBase = ApiBase.EndsWith(path, StringComparison.Ordinal) ? ApiBase[..^path.Length] + "upload/" + path : ApiBase + "upload/";
    }

    /// <summary>
    /// Registers the <c>gs://</c> scheme with <see cref="CheckpointStores"/>. <paramref name="configure"/> adjusts the
    /// options built from each URI.
    /// </summary>
    public static void Register(Action<GcsStoreOptions>? configure = null, ILoggerFactory? loggerFactory = null) =>
        CheckpointStores.Register("gs", uri =>
        {
            var options = GcsStoreOptions.FromUri(uri);
            configure?.Invoke(options);
            return new GcsCheckpointStore(options, loggerFactory);
        });

    /// <summary>The options in force.</summary>
    public GcsStoreOptions Options { get; }

    /// <inheritdoc />
    public string Description => Location.Describe("gs");

    internal ObjectLocation Location { get; }

    internal StoreOperation Operation { get; }

    internal PartBufferPool Buffers { get; }

    internal HttpClient Http { get; }

    internal string ApiBase { get; }

    internal string UploadBase { get; }

    internal ILogger Logger => _logger;

    /// <inheritdoc />
    public ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult<CheckpointObjectWriter>(new GcsObjectWriter(this, key, Location.NameOf(key)));
    }

    /// <inheritdoc />
    public async ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        var name = Location.NameOf(key);
        // Emulators ignore ifGenerationMatch=0: look first, so that an existing commit is never replaced.
        if (await CommitCheck.HoldsAsync(this, key, content, cancellationToken).ConfigureAwait(false) is { } holds)
        {
            if (holds) return;
            throw Conflict(key);
        }
        try
        {
            await UploadSmallAsync(key, name, content, ifAbsent: true, cancellationToken).ConfigureAwait(false);
        }
        catch (CheckpointConflictException)
        {
            // Our own earlier attempt may have landed before its answer was lost.
            if (await CommitCheck.HoldsAsync(this, key, content, cancellationToken).ConfigureAwait(false) == true) return;
            throw Conflict(key);
        }
        if (await CommitCheck.HoldsAsync(this, key, content, cancellationToken).ConfigureAwait(false) != true)
            throw Conflict(key);
    }

    /// <summary>
    /// Uploads a small object in one request (metadata and bytes together), declaring its CRC32C and MD5 so that GCS
    /// refuses a body that does not match: the object appears whole or not at all.
    /// </summary>
    private Task UploadSmallAsync(string key, string name, ReadOnlyMemory<byte> content, bool ifAbsent, CancellationToken cancellationToken) =>
        Operation.RunAsync($"Uploading '{key}'", async token =>
        {
            var url = $"{UploadBase}b/{Uri.EscapeDataString(Location.Bucket)}/o?uploadType=multipart" + (ifAbsent ? "&ifGenerationMatch=0" : "");
            var crc = new Crc32C();
            crc.Append(content.Span);
            var metadata = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["name"] = name,
                ["contentType"] = "application/octet-stream",
                ["crc32c"] = crc.ToBase64(),
                ["md5Hash"] = Convert.ToBase64String(System.Security.Cryptography.MD5.HashData(content.Span)),
            });
            using var body = new MultipartContent("related", "spotcheckpoint-" + Guid.NewGuid().ToString("N"))
            {
                new StringContent(metadata, System.Text.Encoding.UTF8, "application/json"),
                new ReadOnlyMemoryContent(content) { Headers = { ContentType = new MediaTypeHeaderValue("application/octet-stream") } },
            };
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = body };
            using var response = await Http.SendAsync(request, token).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.PreconditionFailed) throw new CheckpointConflictException(key);
            if (!response.IsSuccessStatusCode)
                throw new GcsHttpException(response.StatusCode, $"The store answered {(int)response.StatusCode} {response.ReasonPhrase} uploading '{key}'.");
        }, cancellationToken);

    private CheckpointConflictException Conflict(string key)
    {
        StoreLog.CommitConflict(_logger, key, Description);
        return new CheckpointConflictException(key);
    }

    /// <inheritdoc />
    public async ValueTask<int> ReadAsync(string key, long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        var url = $"{ApiBase}b/{Uri.EscapeDataString(Location.Bucket)}/o/{Uri.EscapeDataString(Location.NameOf(key))}?alt=media";
        return await RangedReads.ReadAsync(key, offset, destination, Options.DownloadPartSize, Options.Parallelism,
            (start, slice, token) => ReadRangeAsync(key, url, start, slice, token), cancellationToken).ConfigureAwait(false);
    }

    private Task<int> ReadRangeAsync(string key, string url, long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        Operation.RunAsync($"Reading '{key}'", async token =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Range = new RangeHeaderValue(offset, offset + destination.Length - 1);
            using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound)
                throw new FileNotFoundException($"Object '{key}' does not exist in {Description}.", key);
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable) return 0;
            if (!response.IsSuccessStatusCode)
                throw new GcsHttpException(response.StatusCode, $"The store answered {(int)response.StatusCode} {response.ReasonPhrase} reading '{key}'.");
            long expected;
            if (response.Content.Headers.ContentRange is { From: { } from, To: { } to })
            {
                if (from != offset || to - from + 1 > destination.Length)
                    throw new IOException($"The store answered range {from}-{to} for '{key}' at offset {offset}.");
                expected = to - from + 1;
            }
            else if (response.Content.Headers.ContentLength is { } whole && (offset >= whole || (offset == 0 && whole <= destination.Length)))
            {
                // The whole object came back: the range started at or past its end (nothing to read), or covered all of it.
                expected = offset >= whole ? 0 : whole;
                if (expected == 0) return 0;
            }
            else
            {
                throw new IOException($"The store ignored the byte range requested for '{key}'.");
            }
            await using var body = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
            int read = await RangedReads.FillAsync(body, destination[..(int)expected], token).ConfigureAwait(false);
            if (read != expected) throw new IOException($"The response for '{key}' ended after {read} of {expected} bytes.");
            return read;
        }, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<long?> GetLengthAsync(string key, CancellationToken cancellationToken = default)
    {
        var info = await GetInfoAsync(key, cancellationToken).ConfigureAwait(false);
        return info?.Size;
    }

    internal async Task<GcsObjectInfo?> GetInfoAsync(string key, CancellationToken cancellationToken)
    {
        var name = Location.NameOf(key);
        return await Operation.RunAsync<GcsObjectInfo?>($"Reading the metadata of '{key}'", async token =>
        {
            try
            {
                var obj = await _client.GetObjectAsync(Location.Bucket, name, cancellationToken: token).ConfigureAwait(false);
                return new GcsObjectInfo((long)(obj.Size ?? 0), obj.Crc32c);
            }
            catch (GoogleApiException ex) when (ex.HttpStatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<StoredObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var all = await Operation.RunAsync($"Listing '{prefix}'", async token =>
        {
            var found = new List<StoredObject>();
            await foreach (var obj in _client.ListObjectsAsync(Location.Bucket, Location.Prefix + prefix).WithCancellation(token).ConfigureAwait(false))
            {
                var key = Location.KeyOf(obj.Name);
                if (key is not null) found.Add(new StoredObject(key, (long)(obj.Size ?? 0), obj.UpdatedDateTimeOffset));
            }
            return found;
        }, cancellationToken).ConfigureAwait(false);
        foreach (var obj in all) yield return obj;
    }

    /// <inheritdoc />
    public async ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        var name = Location.NameOf(key);
        await Operation.RunAsync($"Deleting '{key}'", async token =>
        {
            try { await _client.DeleteObjectAsync(Location.Bucket, name, cancellationToken: token).ConfigureAwait(false); }
            catch (GoogleApiException ex) when (ex.HttpStatusCode == HttpStatusCode.NotFound) { }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Nothing to do on GCS: an unfinished resumable upload is invisible, cannot be listed, and expires by itself after
    /// a week; writers cancel their own sessions when they fail. Returns 0.
    /// </summary>
    public ValueTask<int> CleanupIncompleteAsync(string prefix, TimeSpan olderThan, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(0);

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        if (_ownsClient) _client.Dispose();
        return ValueTask.CompletedTask;
    }

    private static GcsStoreOptions Validated(GcsStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return options;
    }
}
