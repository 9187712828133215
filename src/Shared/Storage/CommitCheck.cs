namespace SpotCheckpoint.Storage;

/// <summary>
/// Reads back what a key holds after (or instead of) an exclusive create. A retried request whose first attempt did
/// reach the store finds its own bytes there: that is success, not a conflict. Different bytes mean another writer
/// committed first.
/// </summary>
internal static class CommitCheck
{
    /// <summary>True when <paramref name="key"/> holds exactly <paramref name="content"/>, false when it holds other bytes, null when it is missing.</summary>
    public static async Task<bool?> HoldsAsync(ICheckpointStore store, string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var buffer = new byte[content.Length + 1];
        try
        {
            int read = await store.ReadAsync(key, 0, buffer, cancellationToken).ConfigureAwait(false);
            return read == content.Length && buffer.AsSpan(0, read).SequenceEqual(content.Span);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }
}
