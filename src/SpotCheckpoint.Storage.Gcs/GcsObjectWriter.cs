namespace SpotCheckpoint.Storage.Gcs;

/// <summary>
/// Streams one object through a resumable upload: chunks go out in order (one sent while the next fills), and after
/// the last one the stored size and CRC32C are compared with what was sent; a mismatch deletes the object and fails
/// with <see cref="CheckpointCorruptException"/>.
/// </summary>
internal sealed class GcsObjectWriter(GcsCheckpointStore store, string key, string name)
    : PartedObjectWriter(key, store.Buffers, parallelism: 1)
{
    private readonly GcsResumableUpload _upload = new(store, key, name, ifAbsent: false);

    protected override Task UploadPartAsync(int partNumber, ReadOnlyMemory<byte> data, bool isLast, CancellationToken cancellationToken) =>
        _upload.SendAsync(data, isLast, cancellationToken);

    protected override async Task CommitAsync(int partCount, long length, CancellationToken cancellationToken)
    {
        var info = await store.GetInfoAsync(Key, cancellationToken).ConfigureAwait(false);
        string? problem = null;
        if (info is null) problem = "the object is missing after its upload completed";
        else if (info.Size != length) problem = $"the store holds {info.Size} bytes, {length} were sent";
        else if (info.Crc32C is not null && info.Crc32C != _upload.Crc32CBase64)
            problem = $"the store's CRC32C {info.Crc32C} differs from the bytes sent ({_upload.Crc32CBase64})";
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

    protected override Task AbortAsync(CancellationToken cancellationToken) => _upload.CancelAsync(cancellationToken);

    protected override void OnAbortFailed(Exception exception) => StoreLog.AbortFailed(store.Logger, Key, store.Description, exception);
}
