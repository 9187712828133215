using SpotCheckpoint.Format;
using SpotCheckpoint.Staging;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.optim.lr_scheduler;

namespace SpotCheckpoint.State;

/// <summary>
/// Everything registered for checkpointing, and the two directions: capture (tensors in a canonical order plus the
/// scalar state for the manifest) and restore (check everything first, then write tensors in place).
/// </summary>
internal sealed partial class TrainingStateRegistry
{
    public const string CpuRngTensor = "rng/cpu";

    private readonly List<(string Name, nn.Module Module)> _modules = new();
    private readonly List<(string Name, OptimizerHelper Optimizer, OptimizerAdapter Adapter)> _optimizers = new();
    private readonly List<(string Name, LRScheduler Scheduler)> _schedulers = new();
    private readonly List<(string Name, ICheckpointState State)> _userStates = new();
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    public bool CaptureCpuRng { get; set; } = true;

    public long? CudaSeed { get; set; }

    public bool IsEmpty => _modules.Count == 0 && _optimizers.Count == 0 && _schedulers.Count == 0 && _userStates.Count == 0;

    public void AddModule(string name, nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        // Refuse a dtype checkpoints cannot hold now, naming the tensor, rather than at the first checkpoint.
        foreach (var (key, t) in module.state_dict()) TensorDtypes.NameOf(t.dtype, $"{name}/{key}");
        Claim(name);
        _modules.Add((name, module));
    }

    public void AddOptimizer(string name, optim.Optimizer optimizer)
    {
        var adapter = OptimizerAdapter.For(optimizer, name);
        if (optimizer is not OptimizerHelper helper)
            throw new UnsupportedStateException($"Optimizer '{name}' does not expose its state.");
        Claim(name);
        _optimizers.Add((name, helper, adapter));
    }

    public void AddScheduler(string name, LRScheduler scheduler)
    {
        SchedulerAdapter.EnsureSupported(scheduler, name);
        Claim(name);
        _schedulers.Add((name, scheduler));
    }

    public void AddUserState(string name, ICheckpointState state) { Claim(name); _userStates.Add((name, state)); }

    private void Claim(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('/') || name == "rng" || name.Length > 128)
            throw new ArgumentException($"'{name}' cannot be a registration name: no '/', not 'rng', at most 128 characters.", nameof(name));
        if (!_names.Add(name)) throw new ArgumentException($"'{name}' is registered already.", nameof(name));
    }

    /// <summary>
    /// Identifies the memory a tensor views: TorchSharp hands out several wrappers (different handles) for one
    /// native tensor, for example a tied weight taken from a native Embedding, so handles cannot tell sharing apart.
    /// Null for empty tensors, which share nothing.
    /// </summary>
    private static string? AliasKey(Tensor t) => t.numel() == 0 ? null :
        $"{TensorMemory.DataPointer(t)}|{t.dtype}|{string.Join(',', t.shape)}|{string.Join(',', t.stride())}|{t.device}";

    /// <summary>Qualified names of every registered module parameter, by tensor handle.</summary>
    private Dictionary<IntPtr, string> ParameterNames()
    {
        var names = new Dictionary<IntPtr, string>();
        foreach (var (moduleName, module) in _modules)
        {
            foreach (var (name, p) in module.named_parameters()) names.TryAdd(p.Handle, moduleName + "/" + name);
        }
        return names;
    }

    /// <summary>Qualified names of every registered module buffer (tensors the forward pass may change in place).</summary>
    public HashSet<string> BufferNames()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (moduleName, module) in _modules)
        {
            foreach (var (name, _) in module.named_buffers()) names.Add(moduleName + "/" + name);
        }
        return names;
    }

    private string NameOf(Dictionary<IntPtr, string> names, Parameter p, string optimizer) =>
        names.TryGetValue(p.Handle, out var n)
            ? n
            : throw new UnsupportedStateException(
                $"Optimizer '{optimizer}' updates a parameter that belongs to no registered module; register its module with AddModule.");
}
