using System.Globalization;
using Spectre.Console;

namespace SpotCheckpoint.Cli;

/// <summary>Spectre.Console on the invocation's writer: colours and progress bars only on a real terminal.</summary>
internal static class CliConsole
{
    public static IAnsiConsole Create(TextWriter output)
    {
        bool terminal = IsTerminal(output);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!terminal) console.Profile.Width = 160;
        return console;
    }

    /// <summary>
    /// A table for <paramref name="output"/>: drawn with borders on a terminal; elsewhere (a pipe, a file, a test's
    /// writer) plain columns without box-drawing characters, as docs/cli.md says.
    /// </summary>
    public static Table Table(TextWriter output) => new Table().Border(IsTerminal(output) ? TableBorder.Rounded : TableBorder.None);

    /// <summary>True when <paramref name="output"/> is the console and the console is not redirected.</summary>
    public static bool IsTerminal(TextWriter output) => output == Console.Out && !Console.IsOutputRedirected;

    /// <summary>
    /// Runs <paramref name="work"/> under a progress bar of <paramref name="totalBytes"/> on a terminal, or plainly
    /// elsewhere; <paramref name="work"/> reports progress through the callback it gets (safe from any thread).
    /// </summary>
    public static async Task<T> WithProgressAsync<T>(TextWriter output, bool quiet, string description, long totalBytes, Func<Action<long>, Task<T>> work)
    {
        if (quiet || !IsTerminal(output)) return await work(_ => { }).ConfigureAwait(false);
        var console = Create(output);
        return await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(description), maxValue: Math.Max(1, totalBytes));
                var result = await work(bytes => task.Increment(bytes)).ConfigureAwait(false);
                task.Value = task.MaxValue;
                return result;
            }).ConfigureAwait(false);
    }

    /// <summary>Bytes in binary units, for people.</summary>
    public static string Size(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? string.Create(CultureInfo.InvariantCulture, $"{bytes} B") : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }

    /// <summary>A UTC time for tables.</summary>
    public static string Time(DateTimeOffset? time) =>
        time is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "-";
}
