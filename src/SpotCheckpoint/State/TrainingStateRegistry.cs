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
internal sealed class TrainingStateRegistry
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

    /// <summary>
    /// Captures the current state: the tensors to stage (live references, except RNG state which is a new tensor
    /// in <paramref name="owned"/>) and a manifest holding everything else.
    /// </summary>
    public (List<(string Name, Tensor Tensor)> Tensors, CheckpointManifest Manifest) Capture(List<Tensor> owned)
    {
        var tensors = new List<(string, Tensor)>();
        var manifest = new CheckpointManifest();
        var saved = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (moduleName, module) in _modules)
        {
            var entry = new ModuleEntry { Name = moduleName };
            foreach (var (key, t) in module.state_dict())
            {
                var qualified = moduleName + "/" + key;
                entry.Tensors.Add(key);
                // A tensor shared with a module registered earlier is saved once, under its first name.
                var alias = AliasKey(t);
                if (alias is not null && saved.TryGetValue(alias, out var first)) (entry.Shared ??= new())[key] = first;
                else { if (alias is not null) saved[alias] = qualified; tensors.Add((qualified, t)); }
            }
            manifest.Modules.Add(entry);
        }

        var names = _optimizers.Count > 0 ? ParameterNames() : new();
        foreach (var (optName, optimizer, adapter) in _optimizers)
        {
            var states = OptimizerAdapter.States(optimizer);
            var entry = new OptimizerEntry { Name = optName, Type = adapter.TypeName };
            var done = new HashSet<string>(StringComparer.Ordinal);
            foreach (var group in OptimizerAdapter.Groups(optimizer))
            {
                var g = new ParamGroupEntry { Options = adapter.GetOptions(group.Options) };
                foreach (var p in group.Parameters)
                {
                    var pName = NameOf(names, p, optName);
                    var state = states[p.Handle];
                    var scalars = adapter.GetScalars(state);
                    var ps = new ParamStateEntry { Parameter = pName, Step = adapter.GetStep(state), Scalars = scalars.Count > 0 ? scalars : null };
                    foreach (var (role, t) in adapter.GetTensors(state))
                    {
                        if (t is null) continue;
                        var tName = $"{optName}/{role}/{pName}";
                        if (done.Add(tName)) tensors.Add((tName, t)); // a parameter listed twice has one state
                        ps.Tensors[role] = tName;
                    }
                    g.Parameters.Add(ps);
                }
                entry.ParamGroups.Add(g);
            }
            manifest.Optimizers.Add(entry);
        }

        foreach (var (name, scheduler) in _schedulers) manifest.Schedulers.Add(SchedulerAdapter.Capture(scheduler, name));

        manifest.Rng = new RngEntry { CudaSeed = CudaSeed };
        if (CaptureCpuRng)
        {
            var rng = torch.random.get_rng_state();
            owned.Add(rng);
            tensors.Add((CpuRngTensor, rng));
            manifest.Rng.CpuStateTensor = CpuRngTensor;
        }

        foreach (var (name, state) in _userStates) manifest.UserState[name] = state.Capture().ToArray();
        return (tensors, manifest);
    }

    /// <summary>
    /// Restores the registered state from a verified checkpoint. Every name, shape and dtype is checked before any
    /// registered tensor changes (<see cref="CheckpointMismatchException"/>); tensor bytes are then read straight
    /// into the registered tensors, each verified by checksum (<see cref="CheckpointCorruptException"/>).
    /// </summary>
    public async Task RestoreAsync(CheckpointReader reader, CancellationToken cancellationToken)
    {
        var m = reader.Manifest;
        var byName = m.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var plan = new List<(TensorEntry Entry, Tensor Destination)>();
        var optimizerWork = new List<Action>();

        // 1. Check everything; change nothing.
        TensorEntry Expect(string name, Tensor like)
        {
            if (!byName.TryGetValue(name, out var e)) throw new CheckpointMismatchException(name, "the checkpoint has no such tensor");
            var dtype = TensorDtypes.NameOf(like.dtype, name);
            if (e.Dtype != dtype) throw new CheckpointMismatchException(name, $"dtype {e.Dtype} in the checkpoint, {dtype} registered");
            if (!e.Shape.SequenceEqual(like.shape))
                throw new CheckpointMismatchException(name, $"shape [{string.Join(", ", e.Shape)}] in the checkpoint, [{string.Join(", ", like.shape)}] registered");
            return e;
        }

        var planned = new HashSet<string>(StringComparer.Ordinal);
        bool Plan(Tensor t) => AliasKey(t) is not { } alias || planned.Add(alias); // each storage is read once
        var registeredModules = _modules.Select(x => x.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var extra in m.Modules.Where(x => !registeredModules.Contains(x.Name)))
            throw new CheckpointMismatchException(extra.Name, "the checkpoint holds a module that is not registered");
        foreach (var (moduleName, module) in _modules)
        {
            var entry = m.Modules.FirstOrDefault(x => x.Name == moduleName)
                ?? throw new CheckpointMismatchException(moduleName, "the checkpoint has no such module");
            var dict = module.state_dict();
            foreach (var key in entry.Tensors.Where(k => !dict.ContainsKey(k)))
                throw new CheckpointMismatchException($"{moduleName}/{key}", "the checkpoint has this tensor but the module does not");
            foreach (var (key, t) in dict)
            {
                if (entry.Shared is { } shared && shared.TryGetValue(key, out var first))
                {
                    // Saved once under its first name; when this model ties it too, that copy fills both.
                    var e = Expect(first, t);
                    if (Plan(t)) plan.Add((e, t));
                    continue;
                }
                var own = Expect($"{moduleName}/{key}", t);
                if (Plan(t)) plan.Add((own, t));
            }
        }

        RejectUnregistered(m.Optimizers.Select(x => x.Name), _optimizers.Select(x => x.Name), "an optimizer");
        RejectUnregistered(m.Schedulers.Select(x => x.Name), _schedulers.Select(x => x.Name), "a scheduler");
        RejectUnregistered(m.UserState.Keys, _userStates.Select(x => x.Name), "user state");
        if (m.Rng?.CudaSeed is long savedSeed && CudaSeed is long seed && savedSeed != seed)
            throw new CheckpointMismatchException("rng/cuda", $"the checkpoint was written with CudaSeed {savedSeed}, the options say {seed}");

        var names = _optimizers.Count > 0 ? ParameterNames() : new();
        var fresh = new List<Tensor>();
        try
        {
            foreach (var (optName, optimizer, adapter) in _optimizers)
            {
                var entry = m.Optimizers.FirstOrDefault(x => x.Name == optName)
                    ?? throw new CheckpointMismatchException(optName, "the checkpoint has no such optimizer");
                if (entry.Type != adapter.TypeName)
                    throw new CheckpointMismatchException(optName, $"the checkpoint holds {entry.Type} state, the registered optimizer is {adapter.TypeName}");
                var groups = OptimizerAdapter.Groups(optimizer);
                if (groups.Count != entry.ParamGroups.Count)
                    throw new CheckpointMismatchException(optName, $"{entry.ParamGroups.Count} parameter group(s) in the checkpoint, {groups.Count} registered");
                var states = OptimizerAdapter.States(optimizer);
                var seenStates = new HashSet<OptimizerState>(ReferenceEqualityComparer.Instance);
                for (int gi = 0; gi < groups.Count; gi++)
                {
                    var group = groups[gi];
                    var ge = entry.ParamGroups[gi];
                    var parameters = group.Parameters.ToList();
                    if (parameters.Count != ge.Parameters.Count)
                        throw new CheckpointMismatchException($"{optName}/group{gi}", $"{ge.Parameters.Count} parameter(s) in the checkpoint, {parameters.Count} registered");
                    var options = ge.Options;
                    adapter.CheckOptions(group.Options, options, optName);
                    optimizerWork.Add(() => adapter.SetOptions(group.Options, options, optName));
                    for (int pi = 0; pi < parameters.Count; pi++)
                    {
                        var p = parameters[pi];
                        var pName = NameOf(names, p, optName);
                        var ps = ge.Parameters[pi];
                        if (ps.Parameter != pName)
                            throw new CheckpointMismatchException($"{optName}/{pName}", $"the checkpoint has '{ps.Parameter}' at this position");
                        var state = states[p.Handle];
                        if (!seenStates.Add(state)) continue; // a parameter listed twice shares one state
                        if (ps.Step is long step) optimizerWork.Add(() => adapter.SetStep(state, step));
                        adapter.CheckScalars(state, ps.Scalars, $"{optName}/{pName}");
                        if (ps.Scalars is { } scalars) optimizerWork.Add(() => adapter.SetScalars(state, scalars));
                        PlanOptimizerTensors(adapter, state, p, ps, byName, plan, fresh, optimizerWork);
                    }
                }
            }

            foreach (var (name, scheduler) in _schedulers)
            {
                var entry = m.Schedulers.FirstOrDefault(x => x.Name == name)
                    ?? throw new CheckpointMismatchException(name, "the checkpoint has no such scheduler");
                SchedulerAdapter.Check(scheduler, entry);
            }

            TensorEntry? rngEntry = null;
            byte[]? rngCurrent = null;
            if (CaptureCpuRng)
            {
                var rngName = m.Rng?.CpuStateTensor ?? throw new CheckpointMismatchException(CpuRngTensor, "the checkpoint holds no CPU RNG state");
                if (!byName.TryGetValue(rngName, out rngEntry)) throw new CheckpointMismatchException(rngName, "the checkpoint has no such tensor");
                using var current = torch.random.get_rng_state();
                rngCurrent = current.bytes.ToArray();
                if (rngEntry.Dtype != "U8" || rngEntry.Bytes != rngCurrent.Length)
                    throw new CheckpointMismatchException(rngName, $"the RNG state is {rngEntry.Bytes} bytes of {rngEntry.Dtype}; this LibTorch uses {rngCurrent.Length} bytes of U8");
            }

            foreach (var (name, _) in _userStates)
            {
                if (!m.UserState.ContainsKey(name)) throw new CheckpointMismatchException(name, "the checkpoint has no such user state");
            }

            // 2. Read verified bytes into place, several tensors at a time (reading and hashing overlap).
            await reader.VerifyFramesAsync(cancellationToken).ConfigureAwait(false);
            await Parallel.ForEachAsync(
                plan.OrderByDescending(x => x.Entry.Bytes),
                new ParallelOptions { MaxDegreeOfParallelism = ReadParallelism, CancellationToken = cancellationToken },
                async (item, ct) => await ReadIntoAsync(reader, item.Entry, item.Destination, ct).ConfigureAwait(false)).ConfigureAwait(false);
            byte[]? rngBytes = rngEntry is null ? null : await reader.ReadTensorBytesAsync(rngEntry, cancellationToken).ConfigureAwait(false);

            // 3. Scalars, RNG and user state.
            foreach (var work in optimizerWork) work();
            foreach (var (name, scheduler) in _schedulers) SchedulerAdapter.Restore(scheduler, m.Schedulers.First(x => x.Name == name));
            if (rngBytes is not null)
            {
                using var state = torch.tensor(rngBytes, dtype: ScalarType.Byte);
                torch.random.set_rng_state(state);
            }
            foreach (var (name, state) in _userStates) state.Restore(m.UserState[name]);
            fresh.Clear(); // now owned by the optimizer states
        }
        finally
        {
            foreach (var t in fresh) t.Dispose();
        }
    }

    /// <summary>How many tensors are read at once during a restore.</summary>
    public int ReadParallelism { get; set; } = Math.Max(2, Environment.ProcessorCount);

    private static void RejectUnregistered(IEnumerable<string> saved, IEnumerable<string> registered, string what)
    {
        var known = registered.ToHashSet(StringComparer.Ordinal);
        foreach (var name in saved)
        {
            if (!known.Contains(name)) throw new CheckpointMismatchException(name, $"the checkpoint holds {what} named '{name}' that is not registered");
        }
    }

    /// <summary>
    /// Plans reading one parameter's optimizer tensors: into the state's own tensor when it has the saved shape and
    /// dtype, otherwise into a new tensor that replaces it once every byte has been read.
    /// </summary>
    private static void PlanOptimizerTensors(OptimizerAdapter adapter, OptimizerState state, Parameter p, ParamStateEntry ps,
        Dictionary<string, TensorEntry> byName, List<(TensorEntry, Tensor)> plan, List<Tensor> fresh, List<Action> work)
    {
        var current = adapter.GetTensors(state).ToDictionary(x => x.Role, x => x.Tensor, StringComparer.Ordinal);
        var (singles, lists) = adapter.Roles(state);
        foreach (var role in ps.Tensors.Keys)
        {
            var listRole = role.Contains('.') ? role[..role.LastIndexOf('.')] : null;
            if (!singles.Contains(role) && (listRole is null || !lists.Contains(listRole)))
                throw new CheckpointMismatchException(ps.Tensors[role], $"the {adapter.TypeName} state has no '{role}'");
        }

        Tensor Destination(string role, Tensor? existing, bool parameterShaped)
        {
            var tName = ps.Tensors[role];
            if (!byName.TryGetValue(tName, out var e)) throw new CheckpointMismatchException(tName, "the checkpoint has no such tensor");
            var dtype = TensorDtypes.NameOf(p.dtype, tName);
            if (e.Dtype != dtype) throw new CheckpointMismatchException(tName, $"dtype {e.Dtype} in the checkpoint, {dtype} registered");
            if (parameterShaped && existing is null && !e.Shape.SequenceEqual(p.shape))
                throw new CheckpointMismatchException(tName, $"shape [{string.Join(", ", e.Shape)}] in the checkpoint, [{string.Join(", ", p.shape)}] registered");
            if (existing is not null && existing.dtype == p.dtype && existing.shape.SequenceEqual(e.Shape) && existing.is_contiguous())
            {
                plan.Add((e, existing));
                return existing;
            }
            if (existing is not null && !existing.shape.SequenceEqual(e.Shape) && parameterShaped)
                throw new CheckpointMismatchException(tName, $"shape [{string.Join(", ", e.Shape)}] in the checkpoint, [{string.Join(", ", existing.shape)}] registered");
            Tensor allocated;
            using (torch.NewDisposeScope())
            {
                allocated = torch.zeros(e.Shape, p.dtype, p.device).DetachFromDisposeScope();
            }
            fresh.Add(allocated);
            plan.Add((e, allocated));
            return allocated;
        }

        foreach (var role in singles)
        {
            current.TryGetValue(role, out var existing);
            if (!ps.Tensors.ContainsKey(role))
            {
                if (existing is not null) work.Add(() => adapter.SetTensor(state, role, null));
                continue;
            }
            // Per-parameter optimizers keep parameter-shaped state; Lbfgs keeps flat vectors it always allocates.
            var destination = Destination(role, existing, parameterShaped: adapter.TypeName != nameof(Lbfgs));
            if (!ReferenceEquals(destination, existing)) work.Add(() => adapter.SetTensor(state, role, destination));
        }
        foreach (var listRole in lists)
        {
            var saved = ps.Tensors.Keys.Where(k => k.StartsWith(listRole + ".", StringComparison.Ordinal)).ToList();
            var items = new List<Tensor>();
            for (int i = 0; i < saved.Count; i++)
            {
                var role = $"{listRole}.{i}";
                if (!ps.Tensors.ContainsKey(role)) throw new CheckpointMismatchException($"{listRole}/{ps.Parameter}", $"the list has no element {i}");
                current.TryGetValue(role, out var existing);
                items.Add(Destination(role, existing, parameterShaped: false));
            }
            work.Add(() => adapter.SetList(state, listRole, items));
        }
    }

    private static async Task ReadIntoAsync(CheckpointReader reader, TensorEntry entry, Tensor destination, CancellationToken cancellationToken)
    {
        if (entry.Bytes == 0) return;
        if (destination.device_type == DeviceType.CPU && destination.is_contiguous())
        {
            await reader.ReadTensorAsync(entry, TensorMemory.DataPointer(destination), cancellationToken).ConfigureAwait(false);
            return;
        }
        // Dispose scopes and grad mode are per thread: keep them out of the awaits.
        var staging = torch.empty(destination.shape, destination.dtype, CPU).DetachFromDisposeScope();
        try
        {
            await reader.ReadTensorAsync(entry, TensorMemory.DataPointer(staging), cancellationToken).ConfigureAwait(false);
            using (torch.no_grad()) destination.copy_(staging);
        }
        finally
        {
            staging.Dispose();
        }
    }
}
