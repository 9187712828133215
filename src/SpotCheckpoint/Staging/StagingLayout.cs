namespace SpotCheckpoint.Staging;

/// <summary>Where one captured tensor lives in the staging buffers and in the shard files.</summary>
internal readonly record struct StagedTensor(string Name, string Dtype, long[] Shape, long Bytes, int Shard, long DataOffset);

/// <summary>
/// The arrangement of captured tensors into shards: tensors are packed in capture order, and a new shard starts
/// when the next tensor would pass the shard size (a tensor larger than the limit gets a shard of its own).
/// Two layouts with the same signature can share staging buffers.
/// </summary>
internal sealed class StagingLayout
{
    private StagingLayout(StagedTensor[] tensors, long[] shardBytes, string signature)
    {
        Tensors = tensors;
        ShardDataBytes = shardBytes;
        Signature = signature;
    }

    public StagedTensor[] Tensors { get; }

    /// <summary>Bytes of tensor data in each shard.</summary>
    public long[] ShardDataBytes { get; }

    public string Signature { get; }

    public long TotalBytes => ShardDataBytes.Sum();

    public static StagingLayout Plan(IReadOnlyList<(string Name, string Dtype, long[] Shape, long Bytes)> items, long maxShardBytes)
    {
        var tensors = new StagedTensor[items.Count];
        var shards = new List<long>();
        long current = 0;
        int shard = 0;
        var signature = new System.Text.StringBuilder();
        for (int i = 0; i < items.Count; i++)
        {
            var (name, dtype, shape, bytes) = items[i];
            if (current > 0 && current + bytes > maxShardBytes)
            {
                shards.Add(current);
                shard++;
                current = 0;
            }
            tensors[i] = new StagedTensor(name, dtype, shape, bytes, shard, current);
            current += bytes;
            signature.Append(name).Append('|').Append(dtype).Append('|').Append(string.Join(',', shape)).Append(';');
        }
        shards.Add(current);
        return new StagingLayout(tensors, shards.ToArray(), signature.Append("@").Append(maxShardBytes).ToString());
    }
}
