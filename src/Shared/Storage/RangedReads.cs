namespace SpotCheckpoint.Storage;

/// <summary>Splits one read into ranged requests that run in parallel, and checks that they fit together.</summary>
internal static class RangedReads
{
    /// <summary>
    /// Reads <paramref name="destination"/>.Length bytes at <paramref name="offset"/> as ranges of
    /// <paramref name="partSize"/> bytes, up to <paramref name="parallelism"/> at once. <paramref name="readRange"/>
    /// returns the bytes it read, fewer only at the end of the object (then every later range must read none).
    /// </summary>
    public static async Task<int> ReadAsync(string key, long offset, Memory<byte> destination, int partSize, int parallelism,
        Func<long, Memory<byte>, CancellationToken, Task<int>> readRange, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (destination.IsEmpty) return 0;
        int parts = (int)((destination.Length + (long)partSize - 1) / partSize);
        if (parts == 1) return await readRange(offset, destination, cancellationToken).ConfigureAwait(false);

        var counts = new int[parts];
        await Parallel.ForEachAsync(Enumerable.Range(0, parts),
            new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken },
            async (i, token) =>
            {
                int start = i * partSize;
                var slice = destination.Slice(start, Math.Min(partSize, destination.Length - start));
                counts[i] = await readRange(offset + start, slice, token).ConfigureAwait(false);
            }).ConfigureAwait(false);

        int total = 0;
        for (int i = 0; i < parts; i++)
        {
            total += counts[i];
            int expected = Math.Min(partSize, destination.Length - i * partSize);
            if (counts[i] == expected) continue;
            for (int j = i + 1; j < parts; j++)
            {
                if (counts[j] != 0)
                    throw new IOException($"The ranges of '{key}' do not fit together; the object changed while it was read.");
            }
            break;
        }
        return total;
    }

    /// <summary>Reads a response body into <paramref name="destination"/> until it ends or the destination is full.</summary>
    public static async Task<int> FillAsync(Stream body, Memory<byte> destination, CancellationToken cancellationToken)
    {
        int total = 0;
        while (total < destination.Length)
        {
            int n = await body.ReadAsync(destination[total..], cancellationToken).ConfigureAwait(false);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}
