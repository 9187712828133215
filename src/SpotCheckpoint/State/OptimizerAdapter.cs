using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SpotCheckpoint.State;

/// <summary>
/// Reads and writes the state of one optimizer kind through TorchSharp's public state objects. SGD, Adam and AdamW
/// are supported; any other optimizer is refused with <see cref="UnsupportedStateException"/>.
/// </summary>
internal abstract class OptimizerAdapter
{
    public abstract string TypeName { get; }

    public static OptimizerAdapter For(optim.Optimizer optimizer, string name) => optimizer switch
    {
        SGD => SgdAdapter.Instance,
        AdamW => AdamWAdapter.Instance,
        Adam => AdamAdapter.Instance,
        _ => throw new UnsupportedStateException(
            $"Optimizer '{name}' is a {optimizer.GetType().Name}; SpotCheckpoint captures SGD, Adam and AdamW exactly. " +
            "Use one of those or save its state through AddState."),
    };

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

    public abstract Dictionary<string, double> GetOptions(OptimizerOptions options);

    public abstract void SetOptions(OptimizerOptions options, IReadOnlyDictionary<string, double> values, string owner);

    public abstract long? GetStep(OptimizerState state);

    public abstract void SetStep(OptimizerState state, long step);

    /// <summary>State tensors by role; a null tensor is absent (for example before SGD's first momentum step).</summary>
    public abstract IEnumerable<(string Role, Tensor? Tensor)> GetTensors(OptimizerState state);

    public abstract void SetTensor(OptimizerState state, string role, Tensor tensor);

    public abstract IReadOnlyList<string> Roles { get; }

    protected static double Require(IReadOnlyDictionary<string, double> values, string key, string owner) =>
        values.TryGetValue(key, out var v) ? v : throw new CheckpointMismatchException(owner, $"option '{key}' is missing");

    protected static void Common(OptimizerOptions o, Dictionary<string, double> d)
    {
        d["lr"] = o.LearningRate ?? double.NaN;
        d["initial_lr"] = o.InitialLearningRate;
    }

    protected static void SetCommon(OptimizerOptions o, IReadOnlyDictionary<string, double> v, string owner)
    {
        o.LearningRate = Require(v, "lr", owner);
        o.InitialLearningRate = Require(v, "initial_lr", owner);
    }

    private sealed class SgdAdapter : OptimizerAdapter
    {
        public static readonly SgdAdapter Instance = new();
        public override string TypeName => "SGD";
        public override IReadOnlyList<string> Roles { get; } = ["momentum_buffer"];

        public override Dictionary<string, double> GetOptions(OptimizerOptions options)
        {
            var o = (SGD.Options)options;
            var d = new Dictionary<string, double>();
            Common(o, d);
            d["momentum"] = o.momentum ?? 0;
            d["dampening"] = o.dampening ?? 0;
            d["weight_decay"] = o.weight_decay ?? 0;
            d["nesterov"] = o.nesterov == true ? 1 : 0;
            d["maximize"] = o.maximize == true ? 1 : 0;
            return d;
        }

        public override void SetOptions(OptimizerOptions options, IReadOnlyDictionary<string, double> v, string owner)
        {
            var o = (SGD.Options)options;
            SetCommon(o, v, owner);
            o.momentum = Require(v, "momentum", owner);
            o.dampening = Require(v, "dampening", owner);
            o.weight_decay = Require(v, "weight_decay", owner);
            o.nesterov = Require(v, "nesterov", owner) != 0;
            o.maximize = Require(v, "maximize", owner) != 0;
        }

        public override long? GetStep(OptimizerState state) => null;
        public override void SetStep(OptimizerState state, long step) { }

        public override IEnumerable<(string Role, Tensor? Tensor)> GetTensors(OptimizerState state)
        {
            yield return ("momentum_buffer", ((SGD.State)state).momentum_buffer);
        }

        public override void SetTensor(OptimizerState state, string role, Tensor tensor)
        {
            var s = (SGD.State)state;
            if (!ReferenceEquals(s.momentum_buffer, tensor)) s.momentum_buffer?.Dispose();
            s.momentum_buffer = tensor;
        }
    }

    private abstract class AdamFamilyAdapter<TState, TOptions> : OptimizerAdapter
        where TState : OptimizerState where TOptions : OptimizerOptions
    {
        public override IReadOnlyList<string> Roles { get; } = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

        protected abstract (double? b1, double? b2, double? eps, double? wd, bool? ams, bool? max) Read(TOptions o);
        protected abstract void Write(TOptions o, double b1, double b2, double eps, double wd, bool ams, bool max);
        protected abstract ref long StepOf(TState s);
        protected abstract ref Tensor TensorOf(TState s, string role);

        public override Dictionary<string, double> GetOptions(OptimizerOptions options)
        {
            var o = (TOptions)options;
            var d = new Dictionary<string, double>();
            Common(o, d);
            var (b1, b2, eps, wd, ams, max) = Read(o);
            d["beta1"] = b1 ?? double.NaN;
            d["beta2"] = b2 ?? double.NaN;
            d["eps"] = eps ?? double.NaN;
            d["weight_decay"] = wd ?? 0;
            d["amsgrad"] = ams == true ? 1 : 0;
            d["maximize"] = max == true ? 1 : 0;
            return d;
        }

        public override void SetOptions(OptimizerOptions options, IReadOnlyDictionary<string, double> v, string owner)
        {
            var o = (TOptions)options;
            SetCommon(o, v, owner);
            Write(o, Require(v, "beta1", owner), Require(v, "beta2", owner), Require(v, "eps", owner),
                Require(v, "weight_decay", owner), Require(v, "amsgrad", owner) != 0, Require(v, "maximize", owner) != 0);
        }

        public override long? GetStep(OptimizerState state) => StepOf((TState)state);
        public override void SetStep(OptimizerState state, long step) => StepOf((TState)state) = step;

        public override IEnumerable<(string Role, Tensor? Tensor)> GetTensors(OptimizerState state)
        {
            var s = (TState)state;
            foreach (var role in Roles) yield return (role, TensorOf(s, role));
        }

        public override void SetTensor(OptimizerState state, string role, Tensor tensor)
        {
            ref Tensor slot = ref TensorOf((TState)state, role);
            if (!ReferenceEquals(slot, tensor)) slot?.Dispose();
            slot = tensor;
        }
    }

    private sealed class AdamAdapter : AdamFamilyAdapter<Adam.State, Adam.Options>
    {
        public static readonly AdamAdapter Instance = new();
        public override string TypeName => "Adam";
        protected override (double?, double?, double?, double?, bool?, bool?) Read(Adam.Options o) =>
            (o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad, o.maximize);
        protected override void Write(Adam.Options o, double b1, double b2, double eps, double wd, bool ams, bool max)
        {
            o.beta1 = b1; o.beta2 = b2; o.eps = eps; o.weight_decay = wd; o.amsgrad = ams; o.maximize = max;
        }
        protected override ref long StepOf(Adam.State s) => ref s.step;
        protected override ref Tensor TensorOf(Adam.State s, string role)
        {
            switch (role)
            {
                case "exp_avg": return ref s.exp_avg;
                case "exp_avg_sq": return ref s.exp_avg_sq;
                case "max_exp_avg_sq": return ref s.max_exp_avg_sq;
                default: throw new ArgumentOutOfRangeException(nameof(role), role, "Unknown Adam state.");
            }
        }
    }

    private sealed class AdamWAdapter : AdamFamilyAdapter<AdamW.State, AdamW.Options>
    {
        public static readonly AdamWAdapter Instance = new();
        public override string TypeName => "AdamW";
        protected override (double?, double?, double?, double?, bool?, bool?) Read(AdamW.Options o) =>
            (o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad, o.maximize);
        protected override void Write(AdamW.Options o, double b1, double b2, double eps, double wd, bool ams, bool max)
        {
            o.beta1 = b1; o.beta2 = b2; o.eps = eps; o.weight_decay = wd; o.amsgrad = ams; o.maximize = max;
        }
        protected override ref long StepOf(AdamW.State s) => ref s.step;
        protected override ref Tensor TensorOf(AdamW.State s, string role)
        {
            switch (role)
            {
                case "exp_avg": return ref s.exp_avg;
                case "exp_avg_sq": return ref s.exp_avg_sq;
                case "max_exp_avg_sq": return ref s.max_exp_avg_sq;
                default: throw new ArgumentOutOfRangeException(nameof(role), role, "Unknown AdamW state.");
            }
        }
    }
}
