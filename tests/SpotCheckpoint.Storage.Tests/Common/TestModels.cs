using static TorchSharp.torch;

namespace SpotCheckpoint.Storage.Tests.Common;

/// <summary>Training state of a chosen size, and a checkpointer over any store.</summary>
internal static class TestModels
{
    /// <summary>A stack of linear layers holding about <paramref name="megabytes"/> MB of float parameters, in layers of at most ~50 MB.</summary>
    public static nn.Module<Tensor, Tensor> Create(int megabytes, long seed)
    {
        random.manual_seed(seed);
        int layers = Math.Max(1, (megabytes + 49) / 50);
        int width = 1024;
        int outputs = (int)((long)megabytes * 1024 * 1024 / 4 / layers / width);
        var modules = Enumerable.Range(0, layers)
            .Select(i => ($"layer{i}", (nn.Module<Tensor, Tensor>)nn.Linear(width, outputs)))
            .ToList();
        return nn.Sequential(modules);
    }

    public static Checkpointer Checkpointer(ICheckpointStore store, nn.Module module, string runId = "run") =>
        new Checkpointer(store, new CheckpointerOptions
        {
            RunId = runId,
            MaxShardBytes = Emulators.TestStores.ShardBytes,
            Policy = Scheduling.CheckpointPolicy.EverySteps(1_000_000),
        }).AddModule("model", module);

    /// <summary>Adds noise to every parameter: the next checkpoint differs from the last.</summary>
    public static void Perturb(nn.Module module)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var p in module.parameters()) p.add_(randn_like(p) * 0.01);
    }
}
