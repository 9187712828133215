using TorchSharp;

namespace SpotCheckpoint;

/// <summary>
/// The deterministic CUDA RNG scheme of <see cref="CheckpointerOptions.CudaSeed"/>: every CUDA generator is
/// reseeded at each step boundary from (seed, step), so straight and resumed runs draw the same numbers.
/// </summary>
internal sealed class CudaReseeder(long? seed)
{
    private readonly bool _active = seed.HasValue && torch.cuda.is_available();

    public void Reseed(long step)
    {
        if (!_active) return;
        // SplitMix64 of (seed, step): decorrelated seeds for consecutive steps.
        ulong z = unchecked((ulong)seed!.Value + 0x9E3779B97F4A7C15UL * (ulong)(step + 1));
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        torch.cuda.manual_seed_all((long)(z >> 1));
    }
}
