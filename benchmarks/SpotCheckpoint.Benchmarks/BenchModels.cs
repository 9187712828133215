using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Benchmarks;

/// <summary>Models of a chosen size for the measurements.</summary>
internal static class BenchModels
{
    /// <summary>An MLP of <paramref name="layers"/> square layers of width <paramref name="width"/>.</summary>
    public static nn.Module<Tensor, Tensor> Mlp(int layers, int width)
    {
        var modules = new List<(string, nn.Module<Tensor, Tensor>)>();
        for (int i = 0; i < layers; i++)
        {
            modules.Add(($"fc{i}", nn.Linear(width, width)));
            if (i < layers - 1) modules.Add(($"act{i}", nn.ReLU()));
        }
        return nn.Sequential(modules);
    }

    /// <summary>Parameters of about <paramref name="megabytes"/> MB in 1024-wide layers.</summary>
    public static nn.Module<Tensor, Tensor> OfSize(double megabytes)
    {
        const int width = 1024;
        double perLayer = (width * width + width) * 4.0 / (1 << 20);
        return Mlp(Math.Max(1, (int)Math.Round(megabytes / perLayer)), width);
    }
}
