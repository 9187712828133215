using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.optim.lr_scheduler;

namespace SpotTrainer;

/// <summary>Builds the model, optimizer and scheduler the options ask for.</summary>
internal static class TrainingSetup
{
    public static nn.Module<Tensor, Tensor> CreateModel(double modelMb)
    {
        // Two hidden layers of width H hold about H*H + 76*H parameters: pick H for the requested size.
        double parameters = modelMb * 1024 * 1024 / 4;
        int hidden = Math.Max(16, (int)((-76 + Math.Sqrt(76.0 * 76 + 4 * parameters)) / 2));
        return nn.Sequential(
            ("fc1", nn.Linear(SyntheticDataset.Features, hidden)),
            ("norm", nn.BatchNorm1d(hidden)),
            ("act1", nn.ReLU()),
            ("drop1", nn.Dropout(0.1)),
            ("fc2", nn.Linear(hidden, hidden)),
            ("act2", nn.ReLU()),
            ("drop2", nn.Dropout(0.1)),
            ("head", nn.Linear(hidden, SyntheticDataset.Classes)));
    }

    /// <summary>Sets requires_grad = false on the parameters of the named modules (names checked by the options).</summary>
    public static void Freeze(nn.Module<Tensor, Tensor> model, IReadOnlyList<string> names)
    {
        foreach (var (name, module) in model.named_children())
        {
            if (!names.Contains(name)) continue;
            foreach (var p in module.parameters()) p.requires_grad = false;
        }
    }

    /// <summary>
    /// One optimizer per name, each with settings that train this model. LBFGS is SpotCheckpoint's managed
    /// implementation (TorchSharp's keeps its history in native code, out of a checkpoint's reach).
    /// </summary>
    public static optim.Optimizer CreateOptimizer(string name, IEnumerable<Parameter> parameters) => name switch
    {
        "sgd" => optim.SGD(parameters, learningRate: 0.05, momentum: 0.9, weight_decay: 1e-4),
        "adam" => optim.Adam(parameters, lr: 1e-3, amsgrad: true),
        "adamax" => optim.Adamax(parameters, lr: 2e-3),
        "nadam" => optim.NAdam(parameters, lr: 2e-3),
        "radam" => optim.RAdam(parameters, lr: 1e-3),
        "rmsprop" => optim.RMSProp(parameters, lr: 1e-3, momentum: 0.9, centered: true),
        "adagrad" => optim.Adagrad(parameters, lr: 0.05, lr_decay: 1e-4),
        "adadelta" => optim.Adadelta(parameters, lr: 1.0, weight_decay: 1e-4),
        "asgd" => optim.ASGD(parameters, lr: 0.01, t0: 10), // averaging starts after 10 steps
        "rprop" => optim.Rprop(parameters, lr: 1e-3),
        "lbfgs" => new SpotCheckpoint.State.Lbfgs(parameters, lr: 0.5, max_iter: 4, history_size: 8),
        _ => optim.AdamW(parameters, lr: 1e-3, weight_decay: 0.01),
    };

    /// <summary>
    /// One training step: <paramref name="lossOfBatch"/> clears the gradients, computes the loss and runs backward.
    /// LBFGS calls it several times per step (it needs a closure); the others call it once and then step.
    /// </summary>
    public static Tensor Step(optim.Optimizer optimizer, Func<Tensor> lossOfBatch)
    {
        if (optimizer is SpotCheckpoint.State.Lbfgs) return optimizer.step(lossOfBatch);
        var loss = lossOfBatch();
        optimizer.step();
        return loss;
    }

    public static LRScheduler CreateScheduler(string name, optim.Optimizer optimizer, long totalSteps)
    {
        int steps = (int)Math.Min(int.MaxValue, totalSteps);
        int warmup = Math.Max(1, steps / 5);
        return name switch
        {
            "step" => StepLR(optimizer, step_size: Math.Max(1, steps / 4), gamma: 0.5),
            "multistep" => MultiStepLR(optimizer, milestones: [steps / 3, 2 * steps / 3], gamma: 0.3),
            "exponential" => ExponentialLR(optimizer, gamma: 0.99),
            "cosine" => CosineAnnealingLR(optimizer, T_max: steps, eta_min: 1e-5),
            "lambda" => LambdaLR(optimizer, epoch => 1.0 / (1.0 + 0.02 * epoch)),
            "linear" => LinearLR(optimizer, start_factor: 0.25, end_factor: 1.0, total_iters: Math.Max(1, steps / 2)),
            // Warm up linearly for the first fifth, then anneal along a cosine.
            "sequential" => SequentialLR(optimizer,
                [LinearLR(optimizer, start_factor: 0.1, end_factor: 1.0, total_iters: warmup),
                 CosineAnnealingLR(optimizer, T_max: Math.Max(1, steps - warmup), eta_min: 1e-5)],
                [warmup]),
            // Both act every step: a slow exponential decay on top of a step decay.
            "chained" => ChainedLR(
                [StepLR(optimizer, step_size: Math.Max(1, steps / 3), gamma: 0.5),
                 ExponentialLR(optimizer, gamma: 0.98)]),
            // OneCycleLR cycles momentum (SGD, RMSprop) or beta1 (the Adam family) where the optimizer has one.
            _ => OneCycleLR(optimizer, max_lr: MaxLr(optimizer), total_steps: steps + 1,
                cycle_momentum: optimizer is optim.IMomentum or optim.IBetas),
        };
    }

    private static double MaxLr(optim.Optimizer optimizer) => optimizer switch
    {
        TorchSharp.Modules.SGD => 0.1,
        TorchSharp.Modules.Adadelta => 1.0,
        TorchSharp.Modules.Adagrad => 0.05,
        SpotCheckpoint.State.Lbfgs => 0.5,
        _ => 3e-3,
    };
}
