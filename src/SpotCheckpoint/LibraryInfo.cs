using System.Reflection;
using TorchSharp;

namespace SpotCheckpoint;

/// <summary>Versions recorded in every manifest.</summary>
internal static class LibraryInfo
{
    public static string Version { get; } =
        typeof(Checkpointer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0] ?? "0.0.0";

    public static string TorchSharpVersion { get; } =
        typeof(torch).Assembly.GetName().Version?.ToString(3) ?? "unknown";
}
