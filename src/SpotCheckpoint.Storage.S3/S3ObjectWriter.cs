using System.Collections.Concurrent;
using System.Net;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;

namespace SpotCheckpoint.Storage.S3;

/// <summary>
/// Streams one object: a single PUT when it fits in one part, otherwise a multipart upload created on the first full
/// part, parts in parallel. After completion the size and the MD5-based ETag are checked; a mismatch deletes the
/// object and fails with <see cref="CheckpointCorruptException"/>.
/// </summary>
internal sealed class S3ObjectWriter(S3CheckpointStore store, string key, string name)
    : PartedObjectWriter(key, store.Buffers, store.Options.Parallelism)
{
    private readonly ConcurrentDictionary<int, (string ETag, byte[] Md5)> _parts = new();
    private readonly object _gate = new();
    private Task<string>? _upload;
    private bool _single;

    protected override async Task UploadPartAsync(int partNumber, ReadOnlyMemory<byte> data, bool isLast, CancellationToken cancellationToken)
    {
        var md5 = MD5.HashData(data.Span);
        if (partNumber == 1 && isLast)
        {
            _single = true;
            await store.Operation.RunAsync($"Uploading '{Key}'", async token =>
            {
                using var body = Stream(data);
                var request = new PutObjectRequest { BucketName = store.Location.Bucket, Key = name, InputStream = body, AutoCloseStream = false };
                if (store.Options.ChecksumMode == S3ChecksumMode.ContentMd5) request.MD5Digest = Convert.ToBase64String(md5);
                var response = await store.Client.PutObjectAsync(request, token).ConfigureAwait(false);
                _parts[1] = (response.ETag ?? "", md5);
            }, cancellationToken).ConfigureAwait(false);
            return;
        }

        var uploadId = await EnsureUploadAsync(cancellationToken).ConfigureAwait(false);
        await store.Operation.RunAsync($"Uploading part {partNumber} of '{Key}'", async token =>
        {
            using var body = Stream(data);
            var request = new UploadPartRequest
            {
                BucketName = store.Location.Bucket,
                Key = name,
                UploadId = uploadId,
                PartNumber = partNumber,
                InputStream = body,
                PartSize = data.Length,
                IsLastPart = isLast,
            };
            if (store.Options.ChecksumMode == S3ChecksumMode.ContentMd5) request.MD5Digest = Convert.ToBase64String(md5);
            var response = await store.Client.UploadPartAsync(request, token).ConfigureAwait(false);
            _parts[partNumber] = (response.ETag ?? "", md5);
        }, cancellationToken).ConfigureAwait(false);
    }

    private Task<string> EnsureUploadAsync(CancellationToken cancellationToken)
    {
        Task<string> upload;
        lock (_gate)
        {
            // Not cancelled with the writer: once started, the upload's id must be learned so that it can be aborted.
            upload = _upload ??= store.Operation.RunAsync($"Starting the upload of '{Key}'", async token =>
            {
                var response = await store.Client.InitiateMultipartUploadAsync(
                    new InitiateMultipartUploadRequest { BucketName = store.Location.Bucket, Key = name }, token).ConfigureAwait(false);
                return response.UploadId;
            }, CancellationToken.None);
        }
        return upload.WaitAsync(cancellationToken);
    }

    protected override async Task CommitAsync(int partCount, long length, CancellationToken cancellationToken)
    {
        string expectedETag;
        if (_single)
        {
            expectedETag = Convert.ToHexString(_parts[1].Md5).ToLowerInvariant();
        }
        else
        {
            var uploadId = await EnsureUploadAsync(cancellationToken).ConfigureAwait(false);
            var ordered = Enumerable.Range(1, partCount).Select(n => _parts[n]).ToList();
            await store.Operation.RunAsync($"Completing the upload of '{Key}'", async token =>
            {
                var request = new CompleteMultipartUploadRequest
                {
                    BucketName = store.Location.Bucket,
                    Key = name,
                    UploadId = uploadId,
                    PartETags = ordered.Select((p, i) => new PartETag(i + 1, p.ETag)).ToList(),
                };
                await store.Client.CompleteMultipartUploadAsync(request, token).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
            var combined = MD5.HashData(ordered.SelectMany(p => p.Md5).ToArray());
            expectedETag = $"{Convert.ToHexString(combined).ToLowerInvariant()}-{partCount}";
        }
        await VerifyAsync(length, partCount, expectedETag, cancellationToken).ConfigureAwait(false);
    }

    private async Task VerifyAsync(long length, int partCount, string expectedETag, CancellationToken cancellationToken)
    {
        var metadata = await store.Operation.RunAsync($"Verifying '{Key}'", async token =>
        {
            try { return await store.Client.GetObjectMetadataAsync(store.Location.Bucket, name, token).ConfigureAwait(false); }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound) { return null; }
        }, cancellationToken).ConfigureAwait(false);
        string? problem = null;
        if (metadata is null) problem = "the object is missing after its upload completed";
        else if (metadata.ContentLength != length) problem = $"the store holds {metadata.ContentLength} bytes, {length} were sent";
        else if (store.Options.ChecksumMode == S3ChecksumMode.ContentMd5 && IsMd5ETag(metadata.ETag, _single ? 1 : partCount) &&
                 !string.Equals(metadata.ETag!.Trim('"'), expectedETag, StringComparison.OrdinalIgnoreCase))
            problem = $"the store's ETag {metadata.ETag} does not match the parts sent ({expectedETag})";
        if (problem is null)
        {
            StoreLog.Uploaded(store.Logger, Key, store.Description, length, partCount);
            return;
        }
        StoreLog.VerificationFailed(store.Logger, Key, store.Description, problem);
        try { await store.DeleteAsync(Key, CancellationToken.None).ConfigureAwait(false); }
        catch (CheckpointStoreException) { /* retention removes it; the manifest never names it */ }
        throw new CheckpointCorruptException(Key, problem);
    }

    // ETags follow S3's MD5 scheme (plain MD5 for one request, "md5-of-part-md5s-N" for multipart) unless the
    // object is encrypted with KMS or SSE-C or the store uses a scheme of its own; only the S3 scheme can be checked.
    private static bool IsMd5ETag(string? etag, int partCount)
    {
        if (etag is null) return false;
        var value = etag.Trim('"');
        int dash = value.IndexOf('-', StringComparison.Ordinal);
        var hex = dash < 0 ? value : value[..dash];
        if (hex.Length != 32 || !hex.All(Uri.IsHexDigit)) return false;
        return partCount == 1 ? dash < 0 : dash > 0 && value[(dash + 1)..] == partCount.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    protected override async Task AbortAsync(CancellationToken cancellationToken)
    {
        Task<string>? upload;
        lock (_gate) upload = _upload;
        if (upload is null) return;
        string uploadId;
        try { uploadId = await upload.WaitAsync(cancellationToken).ConfigureAwait(false); }
        catch (CheckpointStoreException) { return; } // never started
        try
        {
            await store.Client.AbortMultipartUploadAsync(store.Location.Bucket, name, uploadId, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound) { }
    }

    protected override void OnAbortFailed(Exception exception) => StoreLog.AbortFailed(store.Logger, Key, store.Description, exception);

    private static MemoryStream Stream(ReadOnlyMemory<byte> data)
    {
        if (!MemoryMarshal.TryGetArray(data, out var segment)) segment = new ArraySegment<byte>(data.ToArray());
        return new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false);
    }
}
