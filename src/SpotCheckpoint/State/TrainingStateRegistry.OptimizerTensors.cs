using SpotCheckpoint.Format;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SpotCheckpoint.State;

// Restore of one parameter's optimizer tensors: in place where the shapes agree, into new tensors otherwise.
internal sealed partial class TrainingStateRegistry
{
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
}
