using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SpotCheckpoint.State;

/// <summary>
/// The L-BFGS algorithm (without line search, as TorchSharp's <c>torch.optim.LBFGS</c> runs it) in managed code, so
/// that its history (directions, steps, curvature pairs) and counters can be checkpointed and restored exactly.
/// TorchSharp's own LBFGS keeps that state inside LibTorch where .NET cannot read it; use this class instead when
/// the run is checkpointed. Like every L-BFGS, <see cref="step"/> needs a closure that recomputes the loss.
/// </summary>
public sealed class Lbfgs : OptimizerHelper
{
    private readonly Parameter[] _parameters;

    /// <summary>Creates the optimizer over one parameter group.</summary>
    /// <param name="parameters">Parameters to optimize.</param>
    /// <param name="lr">Learning rate (step length).</param>
    /// <param name="max_iter">Iterations per <see cref="step"/>.</param>
    /// <param name="max_eval">Loss evaluations per step; 5/4 of <paramref name="max_iter"/> when null.</param>
    /// <param name="tolerance_grad">Stops when every gradient component is at most this.</param>
    /// <param name="tolerance_change">Stops when the loss or the parameters change less than this.</param>
    /// <param name="history_size">Curvature pairs kept.</param>
    public Lbfgs(IEnumerable<Parameter> parameters, double lr = 0.01, long max_iter = 20, long? max_eval = null,
        double tolerance_grad = 1e-5, double tolerance_change = 1e-9, long history_size = 100)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (lr <= 0) throw new ArgumentOutOfRangeException(nameof(lr), lr, "The learning rate must be positive.");
        if (max_iter < 1) throw new ArgumentOutOfRangeException(nameof(max_iter), max_iter, "max_iter must be at least 1.");
        if (history_size < 1) throw new ArgumentOutOfRangeException(nameof(history_size), history_size, "history_size must be at least 1.");
        _parameters = parameters.ToArray();
        var options = new Options
        {
            LearningRate = lr,
            InitialLearningRate = lr,
            max_iter = max_iter,
            max_eval = max_eval ?? max_iter * 5 / 4,
            tolerance_grad = tolerance_grad,
            tolerance_change = tolerance_change,
            history_size = history_size,
        };
        _defaults = options;
        _parameter_groups = new List<ParamGroup> { new ParamGroup<Options>(_parameters, options) };
        foreach (var p in _parameters)
        {
            var state = new State(p);
            _state[p.Handle] = state;
            state.Initialize(options);
        }
    }

    /// <summary>L-BFGS takes exactly one parameter group.</summary>
    /// <param name="param_group">Refused.</param>
    public override void add_param_group(ParamGroup param_group) =>
        throw new NotSupportedException("L-BFGS optimizes one parameter group.");

    /// <summary>Runs up to max_iter L-BFGS iterations; returns the loss the closure computed first.</summary>
    /// <param name="closure">Clears the gradients, computes the loss, runs backward and returns the loss.</param>
    public override Tensor step(Func<Tensor>? closure = null)
    {
        ArgumentNullException.ThrowIfNull(closure, nameof(closure));
        var o = (Options)_parameter_groups[0].Options;
        double lr = o.LearningRate!.Value;
        long maxIter = o.max_iter!.Value, maxEval = o.max_eval!.Value, history = o.history_size!.Value;
        double tolGrad = o.tolerance_grad!.Value, tolChange = o.tolerance_change!.Value;
        var s = (State)_state[_parameters[0].Handle];

        using var scope = NewDisposeScope();
        Tensor origLoss;
        using (enable_grad()) origLoss = closure();
        double loss = origLoss.to_type(ScalarType.Float64).item<double>();
        long currentEvals = 1;
        s.func_evals += 1;

        using var noGrad = no_grad();
        var flatGrad = FlatGrad();
        bool optCond = flatGrad.abs().max().ToDouble() <= tolGrad;
        if (optCond) return origLoss.MoveToOuterDisposeScope();

        long nIter = 0;
        while (nIter < maxIter)
        {
            nIter++;
            s.n_iter++;
            if (s.n_iter == 1)
            {
                Keep(ref s.d, flatGrad.neg());
                Clear(s.old_dirs); Clear(s.old_stps); Clear(s.ro);
                Keep(ref s.H_diag, ones(Array.Empty<long>(), flatGrad.dtype, flatGrad.device));
            }
            else
            {
                var y = flatGrad.sub(s.prev_flat_grad!);
                var step = s.d!.mul(s.t);
                var ys = y.dot(step);
                if (ys.ToDouble() > 1e-10)
                {
                    if (s.old_dirs.Count == history)
                    {
                        Pop(s.old_dirs); Pop(s.old_stps); Pop(s.ro);
                    }
                    s.old_dirs.Add(y.DetachFromDisposeScope());
                    s.old_stps.Add(step.DetachFromDisposeScope());
                    s.ro.Add(ys.reciprocal().DetachFromDisposeScope());
                    Keep(ref s.H_diag, ys.div(y.dot(y)));
                }
                int count = s.old_dirs.Count;
                var al = new Tensor[count];
                var q = flatGrad.neg();
                for (int i = count - 1; i >= 0; i--)
                {
                    al[i] = s.old_stps[i].dot(q).mul(s.ro[i]);
                    q.add_(s.old_dirs[i].mul(al[i].neg()));
                }
                var r = q.mul(s.H_diag!);
                for (int i = 0; i < count; i++)
                {
                    var be = s.old_dirs[i].dot(r).mul(s.ro[i]);
                    r.add_(s.old_stps[i].mul(al[i].sub(be)));
                }
                Keep(ref s.d, r);
            }

            if (s.prev_flat_grad is null) Keep(ref s.prev_flat_grad, flatGrad.clone());
            else s.prev_flat_grad.copy_(flatGrad);
            s.prev_loss = loss;

            s.t = s.n_iter == 1 ? Math.Min(1.0, 1.0 / flatGrad.abs().sum().ToDouble()) * lr : lr;
            double gtd = flatGrad.dot(s.d!).ToDouble();
            if (gtd > -tolChange) break;

            long lsEvals = 0;
            AddToParameters(s.t, s.d!);
            if (nIter != maxIter)
            {
                using (enable_grad()) loss = closure().to_type(ScalarType.Float64).item<double>();
                flatGrad = FlatGrad();
                optCond = flatGrad.abs().max().ToDouble() <= tolGrad;
                lsEvals = 1;
            }
            currentEvals += lsEvals;
            s.func_evals += lsEvals;

            if (nIter == maxIter || currentEvals >= maxEval || optCond) break;
            if (s.d!.mul(s.t).abs().max().ToDouble() <= tolChange) break;
            if (Math.Abs(loss - s.prev_loss!.Value) < tolChange) break;
        }
        return origLoss.MoveToOuterDisposeScope();
    }

    private Tensor FlatGrad() => cat(_parameters.Select(p => p.grad is { } g ? g.reshape(-1) : zeros(p.numel(), p.dtype, p.device)).ToList(), 0);

    private void AddToParameters(double t, Tensor direction)
    {
        long offset = 0;
        foreach (var p in _parameters)
        {
            long n = p.numel();
            p.add_(direction.narrow(0, offset, n).view_as(p), alpha: t);
            offset += n;
        }
    }

    private static void Keep(ref Tensor? slot, Tensor value)
    {
        var kept = value.DetachFromDisposeScope();
        if (slot is not null && !ReferenceEquals(slot, kept)) slot.Dispose();
        slot = kept;
    }

    private static void Pop(List<Tensor> list) { list[0].Dispose(); list.RemoveAt(0); }

    private static void Clear(List<Tensor> list) { foreach (var t in list) t.Dispose(); list.Clear(); }

    /// <summary>Releases the history tensors.</summary>
    /// <param name="disposing">True from Dispose.</param>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        foreach (var (_, state) in _state) ((State)state).Dispose();
        _state.Clear();
    }

    /// <summary>
    /// L-BFGS state. The first parameter's state holds the optimizer's history (as LibTorch keeps it); the others
    /// stay empty. Every field is public so that checkpoints capture it.
    /// </summary>
    public sealed class State : OptimizerState, IDisposable
    {
        /// <summary>Loss evaluations so far.</summary>
        public long func_evals;
        /// <summary>Iterations so far.</summary>
        public long n_iter;
        /// <summary>The last step length.</summary>
        public double t;
        /// <summary>The loss before the last update; null before the first.</summary>
        public double? prev_loss;
        /// <summary>The last search direction (flat).</summary>
        public Tensor? d;
        /// <summary>The last flat gradient.</summary>
        public Tensor? prev_flat_grad;
        /// <summary>The initial Hessian diagonal scale (0-dimensional).</summary>
        public Tensor? H_diag;
        /// <summary>Gradient differences y, oldest first.</summary>
        public List<Tensor> old_dirs = new();
        /// <summary>Steps s, oldest first.</summary>
        public List<Tensor> old_stps = new();
        /// <summary>1 / (y·s) per pair (0-dimensional tensors).</summary>
        public List<Tensor> ro = new();

        /// <summary>Creates the state of one parameter.</summary>
        /// <param name="parameter">The parameter.</param>
        public State(Parameter parameter) : base(parameter) { }

        /// <summary>Releases the tensors.</summary>
        public void Dispose()
        {
            d?.Dispose(); prev_flat_grad?.Dispose(); H_diag?.Dispose();
            Clear(old_dirs); Clear(old_stps); Clear(ro);
        }

        /// <summary>Resets to the state before the first step.</summary>
        /// <param name="options">The group options.</param>
        public override void Initialize(OptimizerOptions options)
        {
            Dispose();
            d = prev_flat_grad = H_diag = null;
            func_evals = n_iter = 0;
            t = 0;
            prev_loss = null;
        }

        /// <summary>Moves the tensors to <paramref name="device"/>.</summary>
        /// <param name="device">The device.</param>
        public override void to(Device device)
        {
            d = d?.to(device); prev_flat_grad = prev_flat_grad?.to(device); H_diag = H_diag?.to(device);
            for (int i = 0; i < old_dirs.Count; i++) old_dirs[i] = old_dirs[i].to(device);
            for (int i = 0; i < old_stps.Count; i++) old_stps[i] = old_stps[i].to(device);
            for (int i = 0; i < ro.Count; i++) ro[i] = ro[i].to(device);
        }

        /// <summary>Not supported: checkpoints capture this state through its fields.</summary>
        /// <param name="writer">Unused.</param>
        public override void SaveStateDict(BinaryWriter writer) => throw new NotSupportedException("Checkpoint Lbfgs through SpotCheckpoint.");

        /// <summary>Not supported: checkpoints restore this state through its fields.</summary>
        /// <param name="reader">Unused.</param>
        public override void LoadStateDict(BinaryReader reader) => throw new NotSupportedException("Restore Lbfgs through SpotCheckpoint.");

        /// <summary>Copies another state's scalars and tensors.</summary>
        /// <param name="source">The state to copy.</param>
        public override void LoadStateDict(OptimizerState source)
        {
            var s = (State)source;
            Dispose();
            func_evals = s.func_evals; n_iter = s.n_iter; t = s.t; prev_loss = s.prev_loss;
            d = s.d?.clone(); prev_flat_grad = s.prev_flat_grad?.clone(); H_diag = s.H_diag?.clone();
            old_dirs = s.old_dirs.Select(x => x.clone()).ToList();
            old_stps = s.old_stps.Select(x => x.clone()).ToList();
            ro = s.ro.Select(x => x.clone()).ToList();
        }

        /// <summary>True when the scalars match and the tensors are close.</summary>
        /// <param name="other">The other state.</param>
        public override bool ApproximatelyEquals(OptimizerState other) =>
            other is State s && s.n_iter == n_iter && s.func_evals == func_evals && s.old_dirs.Count == old_dirs.Count;
    }

    /// <summary>L-BFGS options.</summary>
    public sealed class Options : OptimizerOptions
    {
        /// <summary>Iterations per step.</summary>
        public long? max_iter;
        /// <summary>Loss evaluations per step.</summary>
        public long? max_eval;
        /// <summary>First-order optimality tolerance.</summary>
        public double? tolerance_grad;
        /// <summary>Loss and parameter change tolerance.</summary>
        public double? tolerance_change;
        /// <summary>Curvature pairs kept.</summary>
        public long? history_size;
    }
}
