using System.Runtime.CompilerServices;
using Azure;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SpotCheckpoint.Storage.AzureBlob;

/// <summary>
/// Checkpoints in Azure Blob Storage (<c>az://container/prefix</c> or
/// <c>https://account.blob.core.windows.net/container/prefix</c>). Objects stream up as block blobs: blocks staged in
/// parallel, each with a transactional checksum, then one commit of the block list; size and block list are checked
/// after the commit. The manifest commit uses <c>If-None-Match: *</c>. Reads are parallel ranged downloads.
/// See docs/storage.md.
/// </summary>
public sealed class AzureBlobCheckpointStore : ILengthAwareCheckpointStore
{
    private readonly ILogger _logger;

    /// <summary>Creates a store; the SDK client is built from <paramref name="options"/>.</summary>
    public AzureBlobCheckpointStore(AzureBlobStoreOptions options, ILoggerFactory? loggerFactory = null)
        : this(Validated(options), AzureBlobClientFactory.Create(options), loggerFactory)
    {
    }

    /// <summary>Creates a store over a container client you configured. Account and credential options are ignored.</summary>
    public AzureBlobCheckpointStore(BlobContainerClient container, AzureBlobStoreOptions options, ILoggerFactory? loggerFactory = null)
        : this(Validated(options), container ?? throw new ArgumentNullException(nameof(container)), loggerFactory)
    {
    }

    private AzureBlobCheckpointStore(AzureBlobStoreOptions options, BlobContainerClient container, ILoggerFactory? loggerFactory)
    {
        Options = options;
        Container = container;
        _logger = (ILogger?)loggerFactory?.CreateLogger<AzureBlobCheckpointStore>() ?? NullLogger.Instance;
        Location = new ObjectLocation(container.Name, ObjectLocation.NormalizePrefix(options.Prefix));
        Operation = new StoreOperation(options.OperationTimeout, options.MaxAttempts, AzureBlobClientFactory.IsTransient, AzureBlobClientFactory.Unrecoverable);
        Buffers = new PartBufferPool(options.BlockSize, options.Parallelism + 1);
        // Scheme, host and path only: a SAS in the client's URI never reaches a log.
        Description = container.Uri.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/" + Location.Prefix;
    }

    /// <summary>
    /// Registers the <c>az://</c> scheme and <c>https://*.blob.core.windows.net</c> addresses with
    /// <see cref="CheckpointStores"/>. <paramref name="configure"/> adjusts the options built from each URI.
    /// Other https:// hosts are refused with <see cref="ArgumentException"/>.
    /// </summary>
    public static void Register(Action<AzureBlobStoreOptions>? configure = null, ILoggerFactory? loggerFactory = null)
    {
        ICheckpointStore Open(Uri uri)
        {
            var options = AzureBlobStoreOptions.FromUri(uri);
            configure?.Invoke(options);
            return new AzureBlobCheckpointStore(options, loggerFactory);
        }
        CheckpointStores.Register("az", Open);
        CheckpointStores.Register(Uri.UriSchemeHttps, uri => AzureBlobStoreOptions.AccountOf(uri) is not null
            ? Open(uri)
            : throw new ArgumentException($"No checkpoint store is registered for '{uri.Host}'; https:// addresses are Azure Blob accounts (<account>.blob.core.windows.net).", nameof(uri)));
    }

    /// <summary>The options in force.</summary>
    public AzureBlobStoreOptions Options { get; }

    /// <inheritdoc />
    public string Description { get; }

    internal BlobContainerClient Container { get; }

    internal ObjectLocation Location { get; }

    internal StoreOperation Operation { get; }

    internal PartBufferPool Buffers { get; }

    internal ILogger Logger => _logger;

    internal UploadTransferValidationOptions Validation => new() { ChecksumAlgorithm = Options.TransferChecksum };

    /// <inheritdoc />
    public ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var blob = Container.GetBlockBlobClient(Location.NameOf(key));
        return ValueTask.FromResult<CheckpointObjectWriter>(new AzureBlobObjectWriter(this, key, blob, Buffers));
    }

    /// <inheritdoc />
    /// <remarks>The block size grows past <see cref="AzureBlobStoreOptions.BlockSize"/> when the blob would otherwise need more than 50,000 blocks.</remarks>
    public ValueTask<CheckpointObjectWriter> OpenWriteAsync(string key, long length, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        int blockSize = PartPlan.Choose(key, length, Options.BlockSize, PartLimits.AzureBlob);
        var pool = blockSize == Options.BlockSize ? Buffers : new PartBufferPool(blockSize, Options.Parallelism + 1);
        var blob = Container.GetBlockBlobClient(Location.NameOf(key));
        return ValueTask.FromResult<CheckpointObjectWriter>(new AzureBlobObjectWriter(this, key, blob, pool));
    }

    /// <summary>The tier and encryption scope every upload asks for.</summary>
    internal BlobUploadOptions UploadOptions() => new() { TransferValidation = Validation, AccessTier = Options.Tier };

    /// <inheritdoc />
    public async ValueTask CreateExclusiveAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        var blob = Container.GetBlockBlobClient(Location.NameOf(key));
        try
        {
            await Operation.RunAsync($"Committing '{key}'", async token =>
            {
                using var body = new MemoryStream(content.ToArray(), writable: false);
                var upload = UploadOptions();
                upload.Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All };
                await blob.UploadAsync(body, upload, token).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (CheckpointStoreException ex) when (ex.InnerException is RequestFailedException { Status: 409 or 412 })
        {
            // Our own earlier attempt may have landed before its answer was lost (the SDK retries with the same condition).
            if (await CommitCheck.HoldsAsync(this, key, content, cancellationToken).ConfigureAwait(false) == true) return;
            StoreLog.CommitConflict(_logger, key, Description);
            throw new CheckpointConflictException(key);
        }
        if (await CommitCheck.HoldsAsync(this, key, content, cancellationToken).ConfigureAwait(false) != true)
        {
            StoreLog.CommitConflict(_logger, key, Description);
            throw new CheckpointConflictException(key);
        }
    }

    /// <inheritdoc />
    public async ValueTask<int> ReadAsync(string key, long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        var blob = Container.GetBlobClient(Location.NameOf(key));
        return await RangedReads.ReadAsync(key, offset, destination, Options.DownloadPartSize, Options.Parallelism,
            (start, slice, token) => ReadRangeAsync(key, blob, start, slice, token), cancellationToken).ConfigureAwait(false);
    }

    private Task<int> ReadRangeAsync(string key, BlobClient blob, long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        Operation.RunAsync($"Reading '{key}'", async token =>
        {
            try
            {
                var response = await blob.DownloadStreamingAsync(new BlobDownloadOptions { Range = new HttpRange(offset, destination.Length) }, token).ConfigureAwait(false);
                using var result = response.Value;
                long expected = result.Details.ContentLength;
                if (expected > destination.Length) throw new IOException($"The store answered {expected} bytes for a {destination.Length}-byte range of '{key}'.");
                int read = await RangedReads.FillAsync(result.Content, destination[..(int)expected], token).ConfigureAwait(false);
                if (read != expected) throw new IOException($"The response for '{key}' ended after {read} of {expected} bytes.");
                return read;
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
                throw new FileNotFoundException($"Object '{key}' does not exist in {Description}.", key, ex);
            }
            catch (RequestFailedException ex) when (ex.Status == 416)
            {
                return 0;
            }
        }, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<long?> GetLengthAsync(string key, CancellationToken cancellationToken = default)
    {
        var blob = Container.GetBlobClient(Location.NameOf(key));
        return await Operation.RunAsync<long?>($"Reading the size of '{key}'", async token =>
        {
            try { return (await blob.GetPropertiesAsync(cancellationToken: token).ConfigureAwait(false)).Value.ContentLength; }
            catch (RequestFailedException ex) when (ex.Status == 404) { return null; }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<StoredObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var pages = await Operation.RunAsync($"Listing '{prefix}'", async token =>
        {
            var all = new List<StoredObject>();
            await foreach (var item in Container.GetBlobsAsync(new GetBlobsOptions { Prefix = Location.Prefix + prefix }, token).ConfigureAwait(false))
            {
                var key = Location.KeyOf(item.Name);
                if (key is not null) all.Add(new StoredObject(key, item.Properties.ContentLength ?? 0, item.Properties.LastModified));
            }
            return all;
        }, cancellationToken).ConfigureAwait(false);
        foreach (var obj in pages) yield return obj;
    }

    /// <inheritdoc />
    public async ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        var blob = Container.GetBlobClient(Location.NameOf(key));
        await Operation.RunAsync($"Deleting '{key}'", token => blob.DeleteIfExistsAsync(cancellationToken: token), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Removes blobs under <paramref name="prefix"/> that have staged blocks but were never committed and were last
    /// touched before <paramref name="olderThan"/> ago (the service would otherwise keep those blocks for a week),
    /// and the empty placeholders an interrupted earlier clean-up left.
    /// </summary>
    public async ValueTask<int> CleanupIncompleteAsync(string prefix, TimeSpan olderThan, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var cutoff = DateTimeOffset.UtcNow - olderThan;
        var (committed, all) = await Operation.RunAsync($"Listing incomplete uploads under '{prefix}'", async token =>
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            await foreach (var item in Container.GetBlobsAsync(new GetBlobsOptions { Prefix = Location.Prefix + prefix, Traits = BlobTraits.Metadata }, token).ConfigureAwait(false))
            {
                names.Add(item.Name);
                if (item.Properties.ContentLength == 0 && item.Metadata?.ContainsKey(DiscardMarker) == true)
                    await Container.GetBlobClient(item.Name).DeleteIfExistsAsync(conditions: new BlobRequestConditions { IfMatch = item.Properties.ETag }, cancellationToken: token).ConfigureAwait(false);
            }
            var withUncommitted = new List<BlobItem>();
            await foreach (var item in Container.GetBlobsAsync(new GetBlobsOptions { Prefix = Location.Prefix + prefix, States = BlobStates.Uncommitted }, token).ConfigureAwait(false))
                withUncommitted.Add(item);
            return (names, withUncommitted);
        }, cancellationToken).ConfigureAwait(false);
        int removed = 0;
        foreach (var item in all)
        {
            if (committed.Contains(item.Name)) continue;
            if ((item.Properties.LastModified ?? item.Properties.CreatedOn) is { } touched && touched > cutoff) continue;
            await DiscardUncommittedAsync(Container.GetBlockBlobClient(item.Name), cancellationToken).ConfigureAwait(false);
            removed++;
        }
        if (removed > 0) StoreLog.CleanedUp(_logger, removed, prefix, Description);
        return removed;
    }

    private const string DiscardMarker = "spotcheckpointdiscard";

    /// <summary>
    /// Drops the staged blocks of a blob that was never committed: committing an empty block list (only if the blob
    /// still does not exist) discards them, and the empty blob is then deleted. Only retention's clean-up does this,
    /// for leftovers of crashed writers; the placeholder is marked, so that a clean-up interrupted between the two
    /// calls is finished by the next one. A writer's own abort commits nothing (see AzureBlobObjectWriter).
    /// </summary>
    internal async Task DiscardUncommittedAsync(BlockBlobClient blob, CancellationToken cancellationToken)
    {
        await Operation.RunAsync($"Discarding the staged blocks of '{blob.Name}'", async token =>
        {
            try
            {
                var created = await blob.CommitBlockListAsync([], new CommitBlockListOptions
                {
                    Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
                    Metadata = new Dictionary<string, string> { [DiscardMarker] = "1" },
                }, token).ConfigureAwait(false);
                await blob.DeleteIfExistsAsync(conditions: new BlobRequestConditions { IfMatch = created.Value.ETag }, cancellationToken: token).ConfigureAwait(false);
            }
            catch (RequestFailedException ex) when (ex.Status is 404 or 409 or 412)
            {
                // Committed meanwhile by its writer, or gone already: nothing to discard.
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static AzureBlobStoreOptions Validated(AzureBlobStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return options;
    }
}
