using SpotCheckpoint.Format;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.State;

// Capture: the registered state as tensors in a canonical order plus the manifest's scalar state.
internal sealed partial class TrainingStateRegistry
{
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
}
