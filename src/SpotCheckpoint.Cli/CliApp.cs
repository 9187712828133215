using SpotCheckpoint.Storage;
using System.CommandLine;
using System.CommandLine.Help;
using SpotCheckpoint.Cli.Commands;

namespace SpotCheckpoint.Cli;

/// <summary>
/// The spotckpt command line: a root command with one verb per file under Commands/ (each a static class with a
/// <c>Create()</c> that returns its <see cref="Command"/>). Exit codes: 0 success, 1 failure, 2 usage error
/// (including every parse error: an unknown option, a missing argument or required option), 3 a checkpoint is
/// corrupt (verify, copy), 130 interrupted (Ctrl-C).
/// </summary>
internal static class CliApp
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int UsageError = 2;
    public const int Corrupt = 3;
    public const int Interrupted = 130;

    /// <summary>The name users type (the installed tool's command), shown in usage lines whatever the assembly is called.</summary>
    public const string Name = "spotckpt";

    public static Command CreateRootCommand()
    {
        // A RootCommand would take its name from the executable (SpotCheckpoint.Cli under dotnet run or as a tool's
        // entry assembly); a plain command named spotckpt, with the help and version options added, says spotckpt.
        var root = new Command(Name, "spotckpt: list, inspect, verify, prune and copy SpotCheckpoint checkpoints in any store, and simulate checkpoint schedules.")
        {
            new HelpOption(),
            new VersionOption(),
        };
        root.Subcommands.Add(LsCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(VerifyCommand.Create());
        root.Subcommands.Add(PruneCommand.Create());
        root.Subcommands.Add(CopyCommand.Create());
        root.Subcommands.Add(SimulateCommand.Create());
        root.Subcommands.Add(ReportCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>, writing to the given writers (the console when null).</summary>
    public static Task<int> RunAsync(string[] args, TextWriter? output = null, TextWriter? error = null, CancellationToken cancellationToken = default)
    {
        var configuration = new InvocationConfiguration();
        if (output is not null) configuration.Output = output;
        if (error is not null) configuration.Error = error;
        var parse = CreateRootCommand().Parse(args);
        if (parse.Errors.Count > 0) return Task.FromResult(UsageErrors(parse, configuration.Error));
        return parse.InvokeAsync(configuration, cancellationToken);
    }

    /// <summary>Parse errors: one line each and where to find the usage; exit code 2 as docs/cli.md promises.</summary>
    private static int UsageErrors(ParseResult parse, TextWriter error)
    {
        foreach (var problem in parse.Errors) error.WriteLine($"error: {LocationRedaction.Redact(problem.Message)}");
        var command = string.Join(' ', parse.CommandResult.Command.Parents.OfType<Command>().Reverse().Select(c => c.Name)
            .Append(parse.CommandResult.Command.Name));
        error.WriteLine($"Run '{command} --help' for usage.");
        return UsageError;
    }
}
