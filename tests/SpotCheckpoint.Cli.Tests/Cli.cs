using System.Text.Json;
using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Cli.Tests;

/// <summary>Runs spotckpt in process, and damages stored objects through the store interface (so any store works).</summary>
internal static class Cli
{
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = await CliApp.RunAsync(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    public static async Task<JsonElement> JsonAsync(params string[] args)
    {
        var (exit, output, error) = await RunAsync([.. args, "--json"]);
        Assert.That(exit, Is.Zero, error);
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    public static async Task<byte[]> ReadAllAsync(ICheckpointStore store, string key)
    {
        var length = await store.GetLengthAsync(key) ?? throw new FileNotFoundException(key);
        var bytes = new byte[length];
        for (int done = 0; done < length;) done += await store.ReadAsync(key, done, bytes.AsMemory(done));
        return bytes;
    }

    public static async Task WriteAllAsync(ICheckpointStore store, string key, byte[] content)
    {
        await using var writer = await store.OpenWriteAsync(key);
        await writer.WriteAsync(content);
        await writer.CompleteAsync();
    }

    /// <summary>Flips one bit in the middle of a tensor's bytes; returns the shard key and the tensor name.</summary>
    public static async Task<(string ShardKey, string Tensor)> FlipTensorByteAsync(ICheckpointStore store, string runId, long step, string tensorName = "model/fc1.weight")
    {
        var reader = await CheckpointReader.OpenAsync(store, runId, step);
        var tensor = reader.Manifest.Tensors.Single(t => t.Name == tensorName);
        var key = reader.ShardKey(tensor.Shard);
        var bytes = await ReadAllAsync(store, key);
        bytes[tensor.Offset + tensor.Bytes / 2] ^= 0x10;
        await WriteAllAsync(store, key, bytes);
        return (key, tensor.Name);
    }

    /// <summary>Deletes a checkpoint's first shard; returns its key.</summary>
    public static async Task<string> DeleteShardAsync(ICheckpointStore store, string runId, long step)
    {
        var reader = await CheckpointReader.OpenAsync(store, runId, step);
        var key = reader.ShardKey(0);
        await store.DeleteAsync(key);
        return key;
    }

    /// <summary>The keys and lengths of every object under a prefix.</summary>
    public static async Task<Dictionary<string, long>> ObjectsAsync(ICheckpointStore store, string prefix)
    {
        var result = new Dictionary<string, long>();
        await foreach (var obj in store.ListAsync(prefix)) result[obj.Key] = obj.Length;
        return result;
    }
}
