namespace HostedTrainer;

/// <summary>The training job (configuration section <c>Training</c>).</summary>
public sealed class TrainingOptions
{
    /// <summary>Steps to train in total.</summary>
    public long Steps { get; set; } = 300;

    /// <summary>Samples per step.</summary>
    public int BatchSize { get; set; } = 64;

    /// <summary>Width of the hidden layers.</summary>
    public int Hidden { get; set; } = 256;

    /// <summary>Seed of the model's initialisation and of the synthetic data.</summary>
    public long Seed { get; set; } = 1;

    /// <summary>A pause after each step, to make a demo slow enough to interrupt.</summary>
    public int StepDelayMs { get; set; }

    /// <summary>Where to write a JSON summary at the end (final step, state hash, resumed step, preempted); none when empty.</summary>
    public string? SummaryJson { get; set; }
}
