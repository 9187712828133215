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

    public static optim.Optimizer CreateOptimizer(string name, IEnumerable<Parameter> parameters) => name switch
    {
        "sgd" => optim.SGD(parameters, learningRate: 0.05, momentum: 0.9, weight_decay: 1e-4),
        "adam" => optim.Adam(parameters, lr: 1e-3, amsgrad: true),
        _ => optim.AdamW(parameters, lr: 1e-3, weight_decay: 0.01),
    };

    public static LRScheduler CreateScheduler(string name, optim.Optimizer optimizer, long totalSteps)
    {
        int steps = (int)Math.Min(int.MaxValue, totalSteps);
        return name switch
        {
            "step" => StepLR(optimizer, step_size: Math.Max(1, steps / 4), gamma: 0.5),
            "multistep" => MultiStepLR(optimizer, milestones: [steps / 3, 2 * steps / 3], gamma: 0.3),
            "exponential" => ExponentialLR(optimizer, gamma: 0.99),
            "cosine" => CosineAnnealingLR(optimizer, T_max: steps, eta_min: 1e-5),
            "lambda" => LambdaLR(optimizer, epoch => 1.0 / (1.0 + 0.02 * epoch)),
            "linear" => LinearLR(optimizer, start_factor: 0.25, end_factor: 1.0, total_iters: Math.Max(1, steps / 2)),
            _ => OneCycleLR(optimizer, max_lr: optimizer is TorchSharp.Modules.SGD ? 0.1 : 3e-3, total_steps: steps + 1),
        };
    }
}
