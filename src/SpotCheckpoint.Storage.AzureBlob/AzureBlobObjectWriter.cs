using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;
using Azure;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace SpotCheckpoint.Storage.AzureBlob;

/// <summary>
/// Streams one block blob: a single upload when it fits in one block, otherwise blocks staged in parallel (each
/// with its transactional checksum) and one block-list commit. After the commit, size and committed block list are
/// checked; a mismatch deletes the blob and fails with <see cref="CheckpointCorruptException"/>.
/// </summary>
internal sealed class AzureBlobObjectWriter(AzureBlobCheckpointStore store, string key, BlockBlobClient blob, PartBufferPool pool)
    : PartedObjectWriter(key, pool, store.Options.Parallelism, PartLimits.AzureBlob.MaxParts)
{
    // Block ids must all have the same length; the per-writer tag keeps two writers' blocks apart.
    private readonly string _tag = Guid.NewGuid().ToString("N");
    private readonly ConcurrentDictionary<int, int> _sizes = new();
    private bool _single;

    private string BlockId(int partNumber) => Convert.ToBase64String(Encoding.ASCII.GetBytes($"{_tag}-{partNumber:D6}"));

    protected override async Task UploadPartAsync(int partNumber, ReadOnlyMemory<byte> data, bool isLast, CancellationToken cancellationToken)
    {
        if (partNumber == 1 && isLast)
        {
            _single = true;
            await store.Operation.RunAsync($"Uploading '{Key}'", async token =>
            {
                using var body = Stream(data);
                await blob.UploadAsync(body, store.UploadOptions(), token).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
            return;
        }
        await store.Operation.RunAsync($"Staging block {partNumber} of '{Key}'", async token =>
        {
            using var body = Stream(data);
            await blob.StageBlockAsync(BlockId(partNumber), body, new BlockBlobStageBlockOptions { TransferValidation = store.Validation }, token).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        _sizes[partNumber] = data.Length;
    }

    protected override async Task CommitAsync(int partCount, long length, CancellationToken cancellationToken)
    {
        var ids = Enumerable.Range(1, partCount).Select(BlockId).ToList();
        if (!_single)
        {
            await store.Operation.RunAsync($"Committing the blocks of '{Key}'", token =>
                blob.CommitBlockListAsync(ids, new CommitBlockListOptions { AccessTier = store.Options.Tier }, token), cancellationToken).ConfigureAwait(false);
        }

        string? problem = await store.Operation.RunAsync<string?>($"Verifying '{Key}'", async token =>
        {
            try
            {
                var properties = (await blob.GetPropertiesAsync(cancellationToken: token).ConfigureAwait(false)).Value;
                if (properties.ContentLength != length) return $"the store holds {properties.ContentLength} bytes, {length} were sent";
                if (_single) return null;
                var list = (await blob.GetBlockListAsync(BlockListTypes.Committed, cancellationToken: token).ConfigureAwait(false)).Value;
                var committed = list.CommittedBlocks.ToList();
                if (committed.Count != partCount) return $"the store committed {committed.Count} blocks, {partCount} were sent";
                for (int i = 0; i < partCount; i++)
                {
                    if (committed[i].Name != ids[i] || committed[i].SizeLong != _sizes[i + 1])
                        return $"committed block {i + 1} differs from the block sent";
                }
                return null;
            }
            catch (RequestFailedException ex) when (ex.Status == 404)
            {
                return "the blob is missing after its commit";
            }
        }, cancellationToken).ConfigureAwait(false);
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

    // Nothing is committed on abort: staged blocks stay invisible (no reader, list or HEAD sees them) and the service
    // drops them after a week; retention's clean-up removes older ones sooner. Committing an empty list to discard
    // them would put a 0-byte blob under the final key, and a crash right then would leave it there.
    protected override Task AbortAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    protected override void OnAbortFailed(Exception exception) => StoreLog.AbortFailed(store.Logger, Key, store.Description, exception);

    private static MemoryStream Stream(ReadOnlyMemory<byte> data)
    {
        if (!MemoryMarshal.TryGetArray(data, out var segment)) segment = new ArraySegment<byte>(data.ToArray());
        return new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false);
    }
}
