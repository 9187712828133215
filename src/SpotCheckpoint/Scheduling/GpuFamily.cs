namespace SpotCheckpoint.Scheduling;

/// <summary>The GPU a cloud instance type carries, as far as interruption risk is concerned.</summary>
public enum GpuFamily
{
    /// <summary>Not known (or not a GPU instance): the generic prior applies.</summary>
    Unknown,

    /// <summary>NVIDIA Tesla V100.</summary>
    V100,

    /// <summary>NVIDIA T4.</summary>
    T4,

    /// <summary>NVIDIA A10G / A10.</summary>
    A10G,

    /// <summary>NVIDIA L4.</summary>
    L4,

    /// <summary>NVIDIA L40S.</summary>
    L40S,

    /// <summary>NVIDIA A100 (40 or 80 GB).</summary>
    A100,

    /// <summary>NVIDIA H100.</summary>
    H100,

    /// <summary>NVIDIA H200.</summary>
    H200,

    /// <summary>NVIDIA B200.</summary>
    B200,
}
