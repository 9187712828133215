namespace SpotCheckpoint.Storage;

/// <summary>
/// Chooses the part (block) size of one upload from its length and the provider's limits, before anything is sent:
/// the configured size when the object fits in the allowed part count, otherwise the smallest whole number of MiB
/// that fits, or a clear refusal when no part size the store can buffer fits.
/// </summary>
internal static class PartPlan
{
    /// <summary>The largest part this library buffers (parts are byte arrays, filled while the previous ones upload).</summary>
    public const int MaxBufferedPart = 1 << 30;

    private const int Mib = 1 << 20;

    /// <summary>The part size for <paramref name="length"/> bytes.</summary>
    /// <param name="key">The key, for the message.</param>
    /// <param name="length">The object's length.</param>
    /// <param name="configured">The configured part size.</param>
    /// <param name="limits">The provider's limits.</param>
    public static int Choose(string key, long length, int configured, PartLimits limits)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length > limits.MaxObjectBytes)
            throw new CheckpointStoreException(
                $"'{key}' is {length} bytes; {limits.Store} holds at most {limits.MaxObjectBytes} bytes per object. Write smaller shards (MaxShardBytes).");
        if (Parts(length, configured) <= limits.MaxParts) return configured;
        long needed = (length + limits.MaxParts - 1) / limits.MaxParts;
        long rounded = (needed + Mib - 1) / Mib * Mib;
        long cap = Math.Min(limits.MaxPartBytes, MaxBufferedPart);
        if (rounded > cap)
            throw new CheckpointStoreException(
                $"'{key}' is {length} bytes: more than {limits.MaxParts} parts of at most {cap} bytes, the most {limits.Store} takes in one upload here. Write smaller shards (MaxShardBytes).");
        return (int)rounded;
    }

    /// <summary>The parts <paramref name="length"/> bytes take at <paramref name="partSize"/> (at least one).</summary>
    public static long Parts(long length, int partSize) => Math.Max(1, (length + partSize - 1) / partSize);
}

/// <summary>A provider's limits on one upload.</summary>
/// <param name="Store">The provider, for messages ("S3").</param>
/// <param name="MaxParts">Parts (blocks) per object.</param>
/// <param name="MaxPartBytes">Bytes per part.</param>
/// <param name="MaxObjectBytes">Bytes per object.</param>
internal readonly record struct PartLimits(string Store, int MaxParts, long MaxPartBytes, long MaxObjectBytes)
{
    /// <summary>S3: 10,000 parts of 5 MiB to 5 GiB, 5 TiB per object.</summary>
    public static PartLimits S3 { get; } = new("S3", 10_000, 5L << 30, 5L << 40);

    /// <summary>Azure block blobs: 50,000 blocks of up to 4,000 MiB, about 190.7 TiB per blob.</summary>
    public static PartLimits AzureBlob { get; } = new("Azure Blob Storage", 50_000, 4000L << 20, 50_000L * (4000L << 20));
}
