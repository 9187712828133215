using System.CommandLine;
using SpotCheckpoint.Cli.Commands;

namespace SpotCheckpoint.Cli;

/// <summary>
/// The spotckpt command line: a root command with one verb per file under Commands/ (each a static class with a
/// <c>Create()</c> that returns its <see cref="Command"/>). Exit codes: 0 success, 1 failure, 2 usage error,
/// 3 a checkpoint is corrupt (verify, copy).
/// </summary>
internal static class CliApp
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int UsageError = 2;
    public const int Corrupt = 3;

    public static RootCommand CreateRootCommand()
    {
        var root = new RootCommand("spotckpt: list, inspect, verify, prune and copy SpotCheckpoint checkpoints in any store, and simulate checkpoint schedules.");
        root.Subcommands.Add(LsCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(VerifyCommand.Create());
        root.Subcommands.Add(PruneCommand.Create());
        root.Subcommands.Add(CopyCommand.Create());
        root.Subcommands.Add(SimulateCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>, writing to the given writers (the console when null).</summary>
    public static Task<int> RunAsync(string[] args, TextWriter? output = null, TextWriter? error = null, CancellationToken cancellationToken = default)
    {
        var configuration = new InvocationConfiguration();
        if (output is not null) configuration.Output = output;
        if (error is not null) configuration.Error = error;
        return CreateRootCommand().Parse(args).InvokeAsync(configuration, cancellationToken);
    }
}
