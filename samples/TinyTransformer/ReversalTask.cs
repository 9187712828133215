using static TorchSharp.torch;

namespace TinyTransformer;

/// <summary>
/// The synthetic task, generated from the seed: a sequence of <see cref="Digits"/> random digits, a separator, then
/// the digits reversed. The model reads the whole sequence shifted by one and is scored on the reversed half.
/// Batch <c>n</c> depends only on the seed and <c>n</c>, so a resumed run draws exactly the batches a straight run would.
/// </summary>
internal sealed class ReversalTask(int seed, int batchSize)
{
    public const int Digits = 8;
    public const int Separator = 10;
    public const int Vocabulary = 11;
    public const int Context = 2 * Digits; // inputs: digits, separator, reversed digits but the last

    /// <summary>How many batches were drawn (saved with each checkpoint).</summary>
    public long Position { get; set; }

    /// <summary>Inputs [B, Context] and targets [B, Context]; targets outside the reversed half are -100 (ignored).</summary>
    public (Tensor Inputs, Tensor Targets) Next()
    {
        var random = new Random(unchecked(seed * 1_000_003 + (int)Position++)); // deterministic across processes
        var inputs = new long[batchSize * Context];
        var targets = new long[batchSize * Context];
        var digits = new long[Digits];
        for (int b = 0; b < batchSize; b++)
        {
            for (int i = 0; i < Digits; i++) digits[i] = random.Next(10);
            var sequence = digits.Append(Separator).Concat(digits.Reverse()).ToArray(); // 2 * Digits + 1 tokens
            for (int t = 0; t < Context; t++)
            {
                inputs[b * Context + t] = sequence[t];
                targets[b * Context + t] = t >= Digits ? sequence[t + 1] : -100;
            }
        }
        return (tensor(inputs, [batchSize, Context]), tensor(targets, [batchSize, Context]));
    }
}
