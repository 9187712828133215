using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SpotCheckpoint.State;

/// <summary>
/// Reads and writes the state of a managed TorchSharp optimizer through its public state objects, found by
/// reflection: every public field of the per-parameter <see cref="OptimizerState"/> (tensors, lists of tensors,
/// step counters and other numbers) and every public field of the parameter group's <see cref="OptimizerOptions"/>.
/// One mechanism covers SGD, Adam, AdamW, Adamax, NAdam, RAdam, RMSprop, Adagrad, Adadelta, ASGD, Rprop and
/// SpotCheckpoint's <see cref="Lbfgs"/>. A state type with non-public fields is refused (they could not be restored
/// exactly), and so is any optimizer whose state lives in native code (TorchSharp's own LBFGS).
/// </summary>
internal sealed class OptimizerAdapter
{
    private const BindingFlags Public = BindingFlags.Instance | BindingFlags.Public;
    private const BindingFlags Hidden = BindingFlags.Instance | BindingFlags.NonPublic;
    private static readonly Dictionary<Type, TypeShape> Shapes = new();

    private OptimizerAdapter(string typeName) => TypeName = typeName;

    /// <summary>The optimizer's class name, recorded in the manifest.</summary>
    public string TypeName { get; }

    public static OptimizerAdapter For(optim.Optimizer optimizer, string name)
    {
        if (optimizer is not OptimizerHelper helper)
            throw new UnsupportedStateException(optimizer is LBFGS
                ? $"Optimizer '{name}' is TorchSharp's LBFGS, whose history lives in native code that TorchSharp does not expose; " +
                  "use SpotCheckpoint.State.Lbfgs (the same algorithm, with capturable state) instead."
                : $"Optimizer '{name}' is a {optimizer.GetType().Name}, whose state TorchSharp does not expose; save it through AddState.");
        foreach (var state in helper.state_dict().State) Shape(state.GetType(), name);
        foreach (var options in helper.state_dict().Options) Shape(options.GetType(), name);
        return new OptimizerAdapter(optimizer.GetType().Name);
    }

    /// <summary>The parameter groups with their options and parameters.</summary>
    public static IReadOnlyList<ParamGroup> Groups(optim.Optimizer optimizer) =>
        optimizer.ParamGroups.Cast<ParamGroup>().ToList();

    public static IReadOnlyDictionary<IntPtr, OptimizerState> States(OptimizerHelper optimizer)
    {
        var dict = optimizer.state_dict();
        var result = new Dictionary<IntPtr, OptimizerState>();
        int i = 0;
        foreach (var group in optimizer.ParamGroups.Cast<ParamGroup>())
        {
            foreach (var p in group.Parameters) result[p.Handle] = dict.State[i++];
        }
        return result;
    }

    /// <summary>Hyper-parameters by name: <c>lr</c>, <c>initial_lr</c> and every public option field (null is NaN).</summary>
    public Dictionary<string, double> GetOptions(OptimizerOptions options)
    {
        var d = new Dictionary<string, double>
        {
            ["lr"] = options.LearningRate ?? double.NaN,
            ["initial_lr"] = options.InitialLearningRate,
        };
        foreach (var f in Shape(options.GetType(), TypeName).Numbers) d[f.Name] = ToDouble(f.GetValue(options));
        return d;
    }

    /// <summary>Throws <see cref="CheckpointMismatchException"/> when <paramref name="values"/> lacks an option.</summary>
    public void CheckOptions(OptimizerOptions options, IReadOnlyDictionary<string, double> values, string owner)
    {
        foreach (var key in OptionKeys(options))
        {
            if (!values.ContainsKey(key)) throw new CheckpointMismatchException(owner, $"option '{key}' is missing");
        }
    }

    public void SetOptions(OptimizerOptions options, IReadOnlyDictionary<string, double> values, string owner)
    {
        CheckOptions(options, values, owner);
        options.LearningRate = FromDouble<double?>(values["lr"]);
        options.InitialLearningRate = values["initial_lr"];
        foreach (var f in Shape(options.GetType(), owner).Numbers) f.SetValue(options, FromDouble(values[f.Name], f.FieldType));
    }

    private IEnumerable<string> OptionKeys(OptimizerOptions options) =>
        new[] { "lr", "initial_lr" }.Concat(Shape(options.GetType(), TypeName).Numbers.Select(f => f.Name));

    /// <summary>The <c>step</c> counter, when the state has one.</summary>
    public long? GetStep(OptimizerState state) =>
        Shape(state.GetType(), TypeName).Step is { } f ? (long)f.GetValue(state)! : null;

    public void SetStep(OptimizerState state, long step) => Shape(state.GetType(), TypeName).Step?.SetValue(state, step);

    /// <summary>Numeric state other than <c>step</c> (NAdam's mu_product, ASGD's eta and mu, LBFGS counters).</summary>
    public Dictionary<string, double> GetScalars(OptimizerState state) =>
        Shape(state.GetType(), TypeName).Numbers.ToDictionary(f => f.Name, f => ToDouble(f.GetValue(state)));

    public void CheckScalars(OptimizerState state, IReadOnlyDictionary<string, double>? values, string owner)
    {
        foreach (var f in Shape(state.GetType(), owner).Numbers)
        {
            if (values is null || !values.ContainsKey(f.Name)) throw new CheckpointMismatchException(owner, $"state '{f.Name}' is missing");
        }
    }

    public void SetScalars(OptimizerState state, IReadOnlyDictionary<string, double> values)
    {
        foreach (var f in Shape(state.GetType(), TypeName).Numbers) f.SetValue(state, FromDouble(values[f.Name], f.FieldType));
    }

    /// <summary>
    /// State tensors by role; list fields appear as <c>role.0</c>, <c>role.1</c>, …; a null tensor is absent (for
    /// example before SGD's first momentum step).
    /// </summary>
    public IEnumerable<(string Role, Tensor? Tensor)> GetTensors(OptimizerState state)
    {
        var shape = Shape(state.GetType(), TypeName);
        foreach (var f in shape.Tensors) yield return (f.Name, (Tensor?)f.GetValue(state));
        foreach (var f in shape.Lists)
        {
            var list = (IList<Tensor>?)f.GetValue(state);
            if (list is null) continue;
            for (int i = 0; i < list.Count; i++) yield return ($"{f.Name}.{i}", list[i]);
        }
    }

    /// <summary>The single-tensor roles and the list roles of a state type.</summary>
    public (IReadOnlyList<string> Tensors, IReadOnlyList<string> Lists) Roles(OptimizerState state)
    {
        var shape = Shape(state.GetType(), TypeName);
        return (shape.Tensors.Select(f => f.Name).ToList(), shape.Lists.Select(f => f.Name).ToList());
    }

    /// <summary>Replaces a single-tensor role, disposing the tensor it held (null clears it).</summary>
    public void SetTensor(OptimizerState state, string role, Tensor? tensor)
    {
        var f = Shape(state.GetType(), TypeName).Tensors.First(x => x.Name == role);
        var old = (Tensor?)f.GetValue(state);
        if (old is not null && !ReferenceEquals(old, tensor)) old.Dispose();
        f.SetValue(state, tensor);
    }

    /// <summary>Replaces a list role, disposing the tensors no longer held.</summary>
    public void SetList(OptimizerState state, string role, List<Tensor> tensors)
    {
        var f = Shape(state.GetType(), TypeName).Lists.First(x => x.Name == role);
        var old = (IList<Tensor>?)f.GetValue(state);
        if (old is not null)
        {
            foreach (var t in old.Where(t => !tensors.Any(n => ReferenceEquals(n, t)))) t.Dispose();
            old.Clear();
            foreach (var t in tensors) old.Add(t);
        }
        else
        {
            f.SetValue(state, tensors);
        }
    }

    private static double ToDouble(object? value) => value switch
    {
        null => double.NaN,
        bool b => b ? 1 : 0,
        _ => Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture),
    };

    private static T FromDouble<T>(double value) => (T)FromDouble(value, typeof(T))!;

    private static object? FromDouble(double value, Type type)
    {
        var underlying = Nullable.GetUnderlyingType(type);
        if (underlying is not null && double.IsNaN(value)) return null;
        var t = underlying ?? type;
        if (t == typeof(double)) return value;
        if (t == typeof(float)) return (float)value;
        if (t == typeof(bool)) return value != 0;
        if (t == typeof(long)) return checked((long)value);
        return checked((int)value);
    }

    private static readonly Type[] NumberTypes = [typeof(double), typeof(float), typeof(long), typeof(int), typeof(bool)];

    private static bool IsNumber(Type t) => NumberTypes.Contains(Nullable.GetUnderlyingType(t) ?? t);

    private static TypeShape Shape(Type type, string owner)
    {
        lock (Shapes)
        {
            if (Shapes.TryGetValue(type, out var cached)) return cached;
        }
        var baseType = typeof(OptimizerState).IsAssignableFrom(type) ? typeof(OptimizerState) : typeof(OptimizerOptions);
        // Anything not public on the concrete type (beyond the base class's own fields) would be lost on restore.
        for (var t = type; t is not null && t != baseType; t = t.BaseType)
        {
            var hidden = t.GetFields(Hidden | BindingFlags.DeclaredOnly).FirstOrDefault(f => !f.Name.Contains('<'));
            if (hidden is not null)
                throw new UnsupportedStateException($"Optimizer '{owner}' keeps state in the non-public field {type.Name}.{hidden.Name}, which cannot be captured exactly.");
        }
        var fields = type.GetFields(Public).Where(f => f.DeclaringType != baseType).OrderBy(f => f.MetadataToken).ToList();
        var shape = new TypeShape();
        foreach (var f in fields)
        {
            if (f.Name == "step" && f.FieldType == typeof(long) && baseType == typeof(OptimizerState)) shape.Step = f;
            else if (IsNumber(f.FieldType)) shape.Numbers.Add(f);
            else if (f.FieldType == typeof(Tensor)) shape.Tensors.Add(f);
            else if (typeof(IList<Tensor>).IsAssignableFrom(f.FieldType)) shape.Lists.Add(f);
            else throw new UnsupportedStateException($"Optimizer '{owner}' keeps state in {type.Name}.{f.Name} of type {f.FieldType.Name}, which SpotCheckpoint cannot capture.");
        }
        lock (Shapes) Shapes[type] = shape;
        return shape;
    }

    private sealed class TypeShape
    {
        public FieldInfo? Step;
        public readonly List<FieldInfo> Numbers = new();
        public readonly List<FieldInfo> Tensors = new();
        public readonly List<FieldInfo> Lists = new();
    }
}
