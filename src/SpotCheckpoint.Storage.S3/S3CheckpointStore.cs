using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SpotCheckpoint.Storage.S3;

/// <summary>
/// Checkpoints in Amazon S3 or an S3-compatible store (<c>s3://bucket/prefix</c>). Objects stream up as multipart
/// uploads with parts in parallel (one request for objects smaller than a part), each part carrying its Content-MD5;
/// sizes and ETags are checked after the upload. The manifest commit uses <c>If-None-Match: *</c>. Reads are parallel
/// ranged GETs. See docs/storage.md.
/// </summary>
public sealed class S3CheckpointStore : ILengthAwareCheckpointStore
{
    private readonly IAmazonS3 _client;
    private readonly bool _ownsClient;
    private readonly ILogger _logger;

    /// <summary>Creates a store; the SDK client is built from <paramref name="options"/> and disposed with the store.</summary>
    public S3CheckpointStore(S3StoreOptions options, ILoggerFactory? loggerFactory = null)
        : this(Validated(options), S3ClientFactory.Create(options), ownsClient: true, loggerFactory)
    {
    }

    /// <summary>Creates a store over a client you configured (not disposed by the store). Endpoint and credential options are ignored.</summary>
    public S3CheckpointStore(IAmazonS3 client, S3StoreOptions options, ILoggerFactory? loggerFactory = null)
        : this(Validated(options), client ?? throw new ArgumentNullException(nameof(client)), ownsClient: false, loggerFactory)
    {
    }

    private S3CheckpointStore(S3StoreOptions options, IAmazonS3 client, bool ownsClient, ILoggerFactory? loggerFactory)
    {
        Options = options;
        _client = client;
        _ownsClient = ownsClient;
        _logger = (ILogger?)loggerFactory?.CreateLogger<S3CheckpointStore>() ?? NullLogger.Instance;
        Location = new ObjectLocation(options.BucketName, ObjectLocation.NormalizePrefix(options.Prefix));
        Operation = new StoreOperation(options.OperationTimeout, options.MaxAttempts, S3ClientFactory.IsTransient, S3ClientFactory.Unrecoverable);
        Buffers = new PartBufferPool(options.PartSize, options.Parallelism + 1);
    }

    /// <summary>
    /// Registers the <c>s3://</c> scheme with <see cref="CheckpointStores"/>, so that <c>Checkpointer.Create("s3://bucket/prefix")</c>
    /// works. <paramref name="configure"/> adjusts the options built from each URI.
    /// </summary>
    public static void Register(Action<S3StoreOptions>? configure = null, ILoggerFactory? loggerFactory = null) =>
        CheckpointStores.Register("s3", uri =>
        {
            var options = S3StoreOptions.FromUri(uri);
            configure?.Invoke(options);
            return new S3CheckpointStore(options, loggerFactory);
        });

    /// <summary>The options in force.</summary>
    public S3StoreOptions Options { get; }

    /// <inheritdoc />
    public string Description => Location.Describe("s3");

    internal ObjectLocation Location { get; }

    internal StoreOperation Operation { get; }

    internal PartBufferPool Buffers { get; }

    internal IAmazonS3 Client => _client;

    internal ILogger Logger => _logger;

    /// <inheritdoc />
    public ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult<CheckpointObjectWriter>(new S3ObjectWriter(this, key, Location.NameOf(key), Buffers));
    }

    /// <inheritdoc />
    /// <remarks>
    /// The part size grows past <see cref="S3StoreOptions.PartSize"/> when the object would otherwise need more than
    /// S3's 10,000 parts; objects over 5 TiB are refused before anything is sent.
    /// </remarks>
    public ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, long length, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        int partSize = PartPlan.Choose(key, length, Options.PartSize, PartLimits.S3);
        var pool = partSize == Options.PartSize ? Buffers : new PartBufferPool(partSize, Options.Parallelism + 1);
        return ValueTask.FromResult<CheckpointObjectWriter>(new S3ObjectWriter(this, key, Location.NameOf(key), pool));
    }

    /// <inheritdoc />
    public async ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        var name = Location.NameOf(key);
        // Stores that ignore If-None-Match would overwrite: look first, so that an existing commit is never replaced.
        if (await CommitCheck.HoldsAsync(this, key, content, cancellationToken).ConfigureAwait(false) is { } holds)
        {
            if (holds) return;
            throw Conflict(key);
        }
        var md5 = System.Security.Cryptography.MD5.HashData(content.Span);
        try
        {
            await Operation.RunAsync($"Committing '{key}'", async token =>
            {
                using var body = new MemoryStream(content.ToArray(), writable: false);
                var request = new PutObjectRequest { BucketName = Location.Bucket, Key = name, InputStream = body, AutoCloseStream = false };
                if (Options.ChecksumMode == S3ChecksumMode.ContentMd5) request.MD5Digest = Convert.ToBase64String(md5);
                if (Options.ConditionalCommit) request.IfNoneMatch = "*";
                S3Requests.Apply(Options, request);
                await _client.PutObjectAsync(request, token).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (CheckpointStoreException ex) when (ex.InnerException is AmazonS3Exception { StatusCode: HttpStatusCode.PreconditionFailed })
        {
            // Our own earlier attempt may have landed before its answer was lost.
            if (await CommitCheck.HoldsAsync(this, key, content, cancellationToken).ConfigureAwait(false) == true) return;
            throw Conflict(key);
        }

        // Read back: proves the bytes arrived intact, and catches a store that let another writer overwrite ours.
        if (await CommitCheck.HoldsAsync(this, key, content, cancellationToken).ConfigureAwait(false) != true)
            throw Conflict(key);
    }

    private CheckpointConflictException Conflict(string key)
    {
        StoreLog.CommitConflict(_logger, key, Description);
        return new CheckpointConflictException(key);
    }

    /// <inheritdoc />
    public async ValueTask<int> ReadAsync(string key, long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        var name = Location.NameOf(key);
        return await RangedReads.ReadAsync(key, offset, destination, Options.DownloadPartSize, Options.Parallelism,
            (start, slice, token) => ReadRangeAsync(key, name, start, slice, token), cancellationToken).ConfigureAwait(false);
    }

    private Task<int> ReadRangeAsync(string key, string name, long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        Operation.RunAsync($"Reading '{key}'", async token =>
        {
            try
            {
                var request = new GetObjectRequest { BucketName = Location.Bucket, Key = name, ByteRange = new ByteRange(offset, offset + destination.Length - 1) };
                using var response = await _client.GetObjectAsync(request, token).ConfigureAwait(false);
                int expected = ExpectedBytes(key, response, offset, destination.Length);
                int read = await RangedReads.FillAsync(response.ResponseStream, destination[..expected], token).ConfigureAwait(false);
                if (read != expected) throw new IOException($"The response for '{key}' ended after {read} of {expected} bytes.");
                return read;
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
            {
                throw new FileNotFoundException($"Object '{key}' does not exist in {Description}.", key, ex);
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                return 0; // the range starts at or past the end
            }
        }, cancellationToken);

    private static int ExpectedBytes(string key, GetObjectResponse response, long offset, int length)
    {
        // "bytes first-last/total": the store must answer the range asked for, not the whole object.
        var range = response.ContentRange;
        if (string.IsNullOrEmpty(range))
        {
            if (offset == 0 && response.ContentLength <= length) return (int)response.ContentLength;
            if (offset >= response.ContentLength) return 0; // an unsatisfiable range answered with the whole (shorter) object
            throw new IOException($"The store ignored the byte range requested for '{key}'.");
        }
        var parts = range.Replace("bytes ", "", StringComparison.Ordinal).Split('-', '/');
        long first = long.Parse(parts[0], CultureInfo.InvariantCulture);
        long last = long.Parse(parts[1], CultureInfo.InvariantCulture);
        if (first != offset || last - first + 1 > length) throw new IOException($"The store answered range '{range}' for '{key}' at offset {offset}.");
        return (int)(last - first + 1);
    }

    /// <inheritdoc />
    public async ValueTask<long?> GetLengthAsync(string key, CancellationToken cancellationToken = default)
    {
        var name = Location.NameOf(key);
        return await Operation.RunAsync<long?>($"Reading the size of '{key}'", async token =>
        {
            try
            {
                var response = await _client.GetObjectMetadataAsync(Location.Bucket, name, token).ConfigureAwait(false);
                return response.ContentLength;
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<StoredObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var request = new ListObjectsV2Request { BucketName = Location.Bucket, Prefix = Location.Prefix + prefix };
        while (true)
        {
            var response = await Operation.RunAsync($"Listing '{prefix}'", token => _client.ListObjectsV2Async(request, token), cancellationToken).ConfigureAwait(false);
            foreach (var obj in response.S3Objects ?? [])
            {
                var key = Location.KeyOf(obj.Key);
                if (key is not null) yield return new StoredObject(key, obj.Size ?? 0, obj.LastModified is { } modified ? new DateTimeOffset(modified.ToUniversalTime()) : null);
            }
            if (response.IsTruncated != true || string.IsNullOrEmpty(response.NextContinuationToken)) yield break;
            request.ContinuationToken = response.NextContinuationToken;
        }
    }

    /// <inheritdoc />
    public async ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        var name = Location.NameOf(key);
        await Operation.RunAsync($"Deleting '{key}'", async token =>
        {
            try { await _client.DeleteObjectAsync(Location.Bucket, name, token).ConfigureAwait(false); }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound) { }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Aborts multipart uploads under <paramref name="prefix"/> started before <paramref name="olderThan"/> ago.</summary>
    public async ValueTask<int> CleanupIncompleteAsync(string prefix, TimeSpan olderThan, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var cutoff = DateTime.UtcNow - olderThan;
        var request = new ListMultipartUploadsRequest { BucketName = Location.Bucket, Prefix = Location.Prefix + prefix };
        int removed = 0;
        while (true)
        {
            ListMultipartUploadsResponse response;
            try
            {
                response = await Operation.RunAsync($"Listing incomplete uploads under '{prefix}'", token => _client.ListMultipartUploadsAsync(request, token), cancellationToken).ConfigureAwait(false);
            }
            catch (CheckpointStoreException ex) when (ex.InnerException is AmazonS3Exception { StatusCode: HttpStatusCode.NotImplemented })
            {
                // Some S3-compatible stores cannot list uploads; writers abort their own, so only crashed ones stay.
                StoreLog.CleanupUnsupported(_logger, Description);
                return removed;
            }
            foreach (var upload in response.MultipartUploads ?? [])
            {
                if (upload.Initiated is { } initiated && initiated.ToUniversalTime() > cutoff) continue;
                await Operation.RunAsync($"Aborting the upload of '{upload.Key}'", async token =>
                {
                    try { await _client.AbortMultipartUploadAsync(Location.Bucket, upload.Key, upload.UploadId, token).ConfigureAwait(false); }
                    catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound) { }
                }, cancellationToken).ConfigureAwait(false);
                removed++;
            }
            if (response.IsTruncated != true) break;
            request.KeyMarker = response.NextKeyMarker;
            request.UploadIdMarker = response.NextUploadIdMarker;
        }
        if (removed > 0) StoreLog.CleanedUp(_logger, removed, prefix, Description);
        return removed;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        if (_ownsClient) _client.Dispose();
        return ValueTask.CompletedTask;
    }

    private static S3StoreOptions Validated(S3StoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return options;
    }
}
