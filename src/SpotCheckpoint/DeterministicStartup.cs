using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint;

/// <summary>
/// Start-up steps that keep a process's results bit-identical to another process's. The <see cref="Checkpointer"/>
/// constructor runs them; call <see cref="WarmUpVectorMath"/> yourself, first thing in <c>Main</c>, when your code
/// computes a square root, exponential, logarithm or similar on large CPU tensors before it creates the checkpointer.
/// </summary>
public static class DeterministicStartup
{
    private static readonly object WarmUpLock = new();
    private static int _vectorMathWarm;

    /// <summary>
    /// Calls each of LibTorch's MKL-backed elementwise functions (sqrt, exp, log, tanh, erf and the rest) once, in
    /// float32 and float64, on a tensor too small to be split across threads. Runs once per process (tens of
    /// milliseconds); later calls return at once.
    /// </summary>
    /// <remarks>
    /// MKL picks the implementation of each vector-math function lazily, at its first call. When two intra-op threads
    /// make that first call at the same moment, one of them can compute its share of the tensor with another
    /// implementation, a few units in the last place off. Measured here (LibTorch 2.10, two threads, a loaded
    /// machine): about one process in 130 computed its first AdamW or RMSprop step differently, and so ended a
    /// run with another state hash than an interrupted and resumed one. A first call on one thread settles the choice.
    /// </remarks>
    public static void WarmUpVectorMath()
    {
        if (Volatile.Read(ref _vectorMathWarm) == 1) return;
        lock (WarmUpLock)
        {
            if (_vectorMathWarm == 1) return;
            CallEachVectorMathFunction();
            Volatile.Write(ref _vectorMathWarm, 1);
        }
    }

    /// <summary>Whether <see cref="WarmUpVectorMath"/> has run in this process.</summary>
    internal static bool IsVectorMathWarm => Volatile.Read(ref _vectorMathWarm) == 1;

    /// <summary>The warm-up itself, every time it is called (tests).</summary>
    internal static void CallEachVectorMathFunction()
    {
        using var scope = NewDisposeScope();
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        {
            // Inside every function's domain (acos, asin and erfinv need |x| < 1, the logarithms x > 0).
            var x = full(16, 0.25, dtype);
            foreach (var function in Functions) function(x);
        }
    }

    // The functions ATen's vml.h sends to MKL (a superset across LibTorch versions: an extra one costs nothing).
    private static readonly Func<Tensor, Tensor>[] Functions =
    [
        torch.sqrt, torch.exp, torch.expm1, torch.log, torch.log10, torch.log1p, torch.log2,
        torch.sin, torch.cos, torch.tan, torch.asin, torch.acos, torch.atan, torch.sinh, torch.cosh, torch.tanh,
        torch.erf, torch.erfc, torch.erfinv, torch.trunc, torch.abs,
    ];
}
