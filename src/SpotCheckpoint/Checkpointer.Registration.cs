using SpotCheckpoint.Format;
using SpotCheckpoint.State;
using static TorchSharp.torch;
using static TorchSharp.torch.optim.lr_scheduler;

namespace SpotCheckpoint;

// Registration of what a checkpoint holds (before the first ResumeAsync, Step or CheckpointAsync call).
public sealed partial class Checkpointer
{
    /// <summary>
    /// Registers a module's parameters and persistent buffers (restored in place). A tensor of a dtype checkpoints
    /// cannot hold raises <see cref="UnsupportedStateException"/> here, naming it.
    /// </summary>
    public Checkpointer AddModule(string name, nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        EnsureRegistrationOpen();
        foreach (var (key, tensor) in module.state_dict()) TensorDtypes.NameOf(tensor.dtype, $"{name}/{key}");
        _registry.AddModule(name, module);
        return this;
    }

    /// <summary>
    /// Registers an optimizer (SGD, Adam or AdamW; others raise <see cref="UnsupportedStateException"/>). Its state
    /// is keyed by parameter name, so the modules owning its parameters must be registered too.
    /// </summary>
    public Checkpointer AddOptimizer(string name, optim.Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        EnsureRegistrationOpen();
        _registry.AddOptimizer(name, optimizer);
        return this;
    }

    /// <summary>Registers an LR scheduler. SequentialLR and ChainedLR raise <see cref="UnsupportedStateException"/>.</summary>
    public Checkpointer AddScheduler(string name, LRScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        EnsureRegistrationOpen();
        _registry.AddScheduler(name, scheduler);
        return this;
    }

    /// <summary>Registers user state, such as a data loader's position.</summary>
    public Checkpointer AddState(string name, ICheckpointState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        EnsureRegistrationOpen();
        _registry.AddUserState(name, state);
        return this;
    }

    /// <summary>Registers user state kept as a JSON-serialized value.</summary>
    public Checkpointer AddState<T>(string name, Func<T> capture, Action<T> restore) =>
        AddState(name, new JsonCheckpointState<T>(capture, restore));
}
