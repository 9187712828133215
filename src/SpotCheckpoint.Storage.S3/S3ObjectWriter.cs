using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;

namespace SpotCheckpoint.Storage.S3;

/// <summary>
/// Streams one object: a single PUT when it fits in one part, otherwise a multipart upload created on the first full
/// part, parts in parallel. Every part carries its CRC-32C (and Content-MD5 by default), which S3 verifies on
/// arrival. After completion the size and the store's checksum are checked (see <see cref="S3UploadCheck"/>); a
/// mismatch deletes the object and fails with <see cref="CheckpointCorruptException"/>.
/// </summary>
internal sealed class S3ObjectWriter(S3CheckpointStore store, string key, string name, PartBufferPool pool)
    : PartedObjectWriter(key, pool, store.Options.Parallelism, PartLimits.S3.MaxParts)
{
    private readonly ConcurrentDictionary<int, S3Part> _parts = new();
    private readonly object _gate = new();
    private Task<string>? _upload;
    private bool _single;

    protected override async Task UploadPartAsync(int partNumber, ReadOnlyMemory<byte> data, bool isLast, CancellationToken cancellationToken)
    {
        var md5 = MD5.HashData(data.Span);
        var crc = Crc32C.ToBase64(Crc32C.Compute(data.Span));
        bool sendMd5 = store.Options.ChecksumMode == S3ChecksumMode.ContentMd5;
        if (partNumber == 1 && isLast)
        {
            _single = true;
            await store.Operation.RunAsync($"Uploading '{Key}'", async token =>
            {
                using var body = Stream(data);
                var request = new PutObjectRequest { BucketName = store.Location.Bucket, Key = name, InputStream = body, AutoCloseStream = false, ChecksumCRC32C = crc };
                if (sendMd5) request.MD5Digest = Convert.ToBase64String(md5);
                S3Requests.Apply(store.Options, request);
                var response = await store.Client.PutObjectAsync(request, token).ConfigureAwait(false);
                CheckEcho(partNumber, crc, response.ChecksumCRC32C);
                _parts[1] = new S3Part(response.ETag ?? "", md5, crc, data.Length);
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
                ChecksumCRC32C = crc,
            };
            if (sendMd5) request.MD5Digest = Convert.ToBase64String(md5);
            var response = await store.Client.UploadPartAsync(request, token).ConfigureAwait(false);
            CheckEcho(partNumber, crc, response.ChecksumCRC32C);
            _parts[partNumber] = new S3Part(response.ETag ?? "", md5, crc, data.Length);
        }, cancellationToken).ConfigureAwait(false);
    }

    // S3 answers the checksum it computed; a store that answers another one received other bytes.
    private void CheckEcho(int partNumber, string sent, string? answered)
    {
        if (!string.IsNullOrEmpty(answered) && answered != sent)
            throw new CheckpointCorruptException(Key, $"the store computed CRC32C {answered} for part {partNumber}, the part sent has {sent}");
    }

    private Task<string> EnsureUploadAsync(CancellationToken cancellationToken)
    {
        Task<string> upload;
        lock (_gate)
        {
            // Not cancelled with the writer: once started, the upload's id must be learned so that it can be aborted.
            upload = _upload ??= store.Operation.RunAsync($"Starting the upload of '{Key}'", async token =>
            {
                var request = new InitiateMultipartUploadRequest { BucketName = store.Location.Bucket, Key = name, ChecksumAlgorithm = ChecksumAlgorithm.CRC32C };
                S3Requests.Apply(store.Options, request);
                var response = await store.Client.InitiateMultipartUploadAsync(request, token).ConfigureAwait(false);
                return response.UploadId;
            }, CancellationToken.None);
        }
        return upload.WaitAsync(cancellationToken);
    }

    protected override async Task CommitAsync(int partCount, long length, CancellationToken cancellationToken)
    {
        var ordered = Enumerable.Range(1, partCount).Select(n => _parts[n]).ToList();
        bool replyLost = false;
        if (!_single)
        {
            var uploadId = await EnsureUploadAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await store.Operation.RunAsync($"Completing the upload of '{Key}'", async token =>
                {
                    var request = new CompleteMultipartUploadRequest
                    {
                        BucketName = store.Location.Bucket,
                        Key = name,
                        UploadId = uploadId,
                        PartETags = ordered.Select((p, i) => new PartETag(i + 1, p.ETag) { ChecksumCRC32C = p.Crc32C }).ToList(),
                    };
                    await store.Client.CompleteMultipartUploadAsync(request, token).ConfigureAwait(false);
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (CheckpointStoreException ex) when (ex.InnerException is AmazonS3Exception { ErrorCode: "NoSuchUpload" })
            {
                // An earlier attempt completed the upload but its answer was lost: the object's checksum decides.
                replyLost = true;
            }
        }
        var expected = _single
            ? new S3UploadCheck.Expected(length, 1, ordered[0].Crc32C, Convert.ToHexString(ordered[0].Md5).ToLowerInvariant())
            : new S3UploadCheck.Expected(length, partCount, S3UploadCheck.CompositeCrc32C(ordered.Select(p => p.Crc32C)),
                $"{Convert.ToHexString(MD5.HashData(ordered.SelectMany(p => p.Md5).ToArray())).ToLowerInvariant()}-{partCount}");
        await VerifyAsync(expected, replyLost, cancellationToken).ConfigureAwait(false);
    }

    private async Task VerifyAsync(S3UploadCheck.Expected expected, bool replyLost, CancellationToken cancellationToken)
    {
        var metadata = await store.Operation.RunAsync($"Verifying '{Key}'", async token =>
        {
            try
            {
                var request = new GetObjectMetadataRequest { BucketName = store.Location.Bucket, Key = name, ChecksumMode = ChecksumMode.ENABLED };
                return await store.Client.GetObjectMetadataAsync(request, token).ConfigureAwait(false);
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound) { return null; }
        }, cancellationToken).ConfigureAwait(false);
        var problem = metadata is null
            ? "the object is missing after its upload completed"
            : S3UploadCheck.Problem(store.Options, expected, S3UploadCheck.Observed.Of(metadata), requireProof: replyLost);
        if (problem is not null && metadata is not null && replyLost && S3UploadCheck.Problem(store.Options, expected, S3UploadCheck.Observed.Of(metadata), requireProof: false) is null &&
            await ReadBackMatchesAsync(cancellationToken).ConfigureAwait(false))
            problem = null;
        if (problem is null)
        {
            StoreLog.Uploaded(store.Logger, Key, store.Description, expected.Length, expected.Parts);
            return;
        }
        StoreLog.VerificationFailed(store.Logger, Key, store.Description, problem);
        try { await store.DeleteAsync(Key, CancellationToken.None).ConfigureAwait(false); }
        catch (CheckpointStoreException) { /* retention removes it; the manifest never names it */ }
        throw new CheckpointCorruptException(Key, problem);
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

    private sealed record S3Part(string ETag, byte[] Md5, string Crc32C, int Length);

    /// <summary>
    /// Proof for a store that reports no checksum after a lost answer: reads the object back part by part and
    /// compares each part's CRC-32C with the one sent. Costs one read of the object, only in that rare case.
    /// </summary>
    private async Task<bool> ReadBackMatchesAsync(CancellationToken cancellationToken)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(_parts.Values.Max(p => p.Length));
        long offset = 0;
        foreach (var part in _parts.OrderBy(p => p.Key).Select(p => p.Value))
        {
            int read = await store.ReadAsync(Key, offset, buffer.AsMemory(0, part.Length), cancellationToken).ConfigureAwait(false);
            if (read != part.Length || Crc32C.ToBase64(Crc32C.Compute(buffer.AsSpan(0, read))) != part.Crc32C) return false;
            offset += part.Length;
        }
        return true;
    }
}

/// <summary>
/// Decides whether what S3 holds after an upload is what was sent. The store's flexible checksum (CRC-32C, whole
/// object or composite of the parts) is the proof; the ETag counts only where S3 defines it as an MD5 (no KMS, no
/// SSE-C). Pure, so that every case is unit-tested.
/// </summary>
internal static class S3UploadCheck
{
    /// <summary>What was sent.</summary>
    internal sealed record Expected(long Length, int Parts, string Crc32C, string Md5ETag);

    /// <summary>What the store reports.</summary>
    internal sealed record Observed(long Length, string? Crc32C, string? ETag, string? Encryption, bool CustomerKey)
    {
        public static Observed Of(GetObjectMetadataResponse m) => new(
            m.ContentLength, m.ChecksumCRC32C, m.ETag, m.ServerSideEncryptionMethod?.Value,
            !string.IsNullOrEmpty(m.ServerSideEncryptionCustomerMethod?.Value));
    }

    /// <summary>
    /// Null when the object is proven to be the one sent; otherwise the problem. Without a checksum or an MD5 ETag the
    /// parts' checksums verified on arrival stand, unless <paramref name="requireProof"/> (an answer was lost, so the
    /// object might be someone else's).
    /// </summary>
    public static string? Problem(S3StoreOptions options, Expected expected, Observed observed, bool requireProof)
    {
        if (observed.Length != expected.Length) return $"the store holds {observed.Length} bytes, {expected.Length} were sent";
        var wanted = options.EffectiveEncryption switch
        {
            S3Encryption.Kms => "aws:kms",
            S3Encryption.DualLayerKms => "aws:kms:dsse",
            S3Encryption.S3Managed => "AES256",
            _ => null,
        };
        if (wanted is not null && !string.Equals(observed.Encryption, wanted, StringComparison.Ordinal))
            return $"the object is encrypted with '{observed.Encryption ?? "nothing"}', {wanted} was asked for";
        if (!string.IsNullOrEmpty(observed.Crc32C))
        {
            // Composite checksums read "base64-N"; a full-object CRC of a multipart object has no suffix.
            bool composite = observed.Crc32C.Contains('-', StringComparison.Ordinal);
            if (composite || expected.Parts == 1)
            {
                return string.Equals(observed.Crc32C, expected.Crc32C, StringComparison.Ordinal)
                    ? null
                    : $"the store's CRC32C {observed.Crc32C} does not match the parts sent ({expected.Crc32C})";
            }
        }
        bool md5ETags = observed.Encryption is null or "AES256" && !observed.CustomerKey && options.ChecksumMode == S3ChecksumMode.ContentMd5;
        if (md5ETags && IsMd5ETag(observed.ETag, expected.Parts))
        {
            return string.Equals(observed.ETag!.Trim('"'), expected.Md5ETag, StringComparison.OrdinalIgnoreCase)
                ? null
                : $"the store's ETag {observed.ETag} does not match the parts sent ({expected.Md5ETag})";
        }
        return requireProof ? "the upload's answer was lost and the store reports no checksum that proves the object is the one sent" : null;
    }

    /// <summary>S3's composite CRC-32C of a multipart object: the CRC-32C of the parts' checksums, then "-N".</summary>
    public static string CompositeCrc32C(IEnumerable<string> partChecksums)
    {
        var crc = new Crc32C();
        int count = 0;
        Span<byte> bytes = stackalloc byte[4];
        foreach (var part in partChecksums)
        {
            Convert.TryFromBase64String(part, bytes, out _);
            crc.Append(bytes);
            count++;
        }
        return crc.ToBase64() + "-" + count.ToString(CultureInfo.InvariantCulture);
    }

    // ETags follow S3's MD5 scheme (plain MD5 for one request, "md5-of-part-md5s-N" for multipart) only without KMS
    // and SSE-C, and only on stores that use S3's scheme; only that scheme can be checked.
    private static bool IsMd5ETag(string? etag, int partCount)
    {
        if (etag is null) return false;
        var value = etag.Trim('"');
        int dash = value.IndexOf('-', StringComparison.Ordinal);
        var hex = dash < 0 ? value : value[..dash];
        if (hex.Length != 32 || !hex.All(Uri.IsHexDigit)) return false;
        return partCount == 1 ? dash < 0 : dash > 0 && value[(dash + 1)..] == partCount.ToString(CultureInfo.InvariantCulture);
    }
}

/// <summary>The encryption and storage-class settings every object request carries.</summary>
internal static class S3Requests
{
    public static void Apply(S3StoreOptions options, PutObjectRequest request)
    {
        request.ServerSideEncryptionMethod = Method(options);
        if (options.KmsKeyId is not null) request.ServerSideEncryptionKeyManagementServiceKeyId = options.KmsKeyId;
        if (options.BucketKeyEnabled is { } bucketKey) request.BucketKeyEnabled = bucketKey;
        if (options.StorageClass is not null) request.StorageClass = new S3StorageClass(options.StorageClass);
    }

    public static void Apply(S3StoreOptions options, InitiateMultipartUploadRequest request)
    {
        request.ServerSideEncryptionMethod = Method(options);
        if (options.KmsKeyId is not null) request.ServerSideEncryptionKeyManagementServiceKeyId = options.KmsKeyId;
        if (options.BucketKeyEnabled is { } bucketKey) request.BucketKeyEnabled = bucketKey;
        if (options.StorageClass is not null) request.StorageClass = new S3StorageClass(options.StorageClass);
    }

    private static ServerSideEncryptionMethod? Method(S3StoreOptions options) => options.EffectiveEncryption switch
    {
        S3Encryption.S3Managed => ServerSideEncryptionMethod.AES256,
        S3Encryption.Kms => ServerSideEncryptionMethod.AWSKMS,
        S3Encryption.DualLayerKms => ServerSideEncryptionMethod.AWSKMSDSSE,
        _ => null,
    };
}
