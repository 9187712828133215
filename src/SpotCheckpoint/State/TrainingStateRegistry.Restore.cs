using SpotCheckpoint.Format;
using SpotCheckpoint.Staging;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SpotCheckpoint.State;

// Restore: check everything first, then read verified bytes into the registered tensors.
internal sealed partial class TrainingStateRegistry
{
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
