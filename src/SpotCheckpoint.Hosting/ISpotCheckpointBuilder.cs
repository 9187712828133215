using Microsoft.Extensions.DependencyInjection;

namespace SpotCheckpoint.Hosting;

/// <summary>
/// Returned by <c>AddSpotCheckpoint</c> to configure the hosted checkpointer further; store provider packages add
/// their own <c>Use…</c> extensions to it.
/// </summary>
public interface ISpotCheckpointBuilder
{
    /// <summary>The service collection the checkpointer is registered in.</summary>
    IServiceCollection Services { get; }
}

internal sealed class SpotCheckpointBuilder(IServiceCollection services) : ISpotCheckpointBuilder
{
    public IServiceCollection Services { get; } = services;
}
