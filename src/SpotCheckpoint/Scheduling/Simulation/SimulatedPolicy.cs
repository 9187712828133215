namespace SpotCheckpoint.Scheduling.Simulation;

/// <summary>A policy to replay in <see cref="CheckpointSimulator"/>: its name in the report and how to make one.</summary>
/// <param name="Name">The name in the report, such as <c>adaptive</c> or <c>fixed-1800s</c>.</param>
/// <param name="Create">
/// Makes a fresh policy for one simulated run, reading time from the given clock. The same instance serves every
/// attempt of that run, as a policy whose hazard state is kept with the run would.
/// </param>
public sealed record SimulatedPolicy(string Name, Func<TimeProvider, CheckpointPolicy> Create);
