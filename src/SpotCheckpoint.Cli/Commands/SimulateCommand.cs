using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Scheduling.Simulation;
using Spectre.Console;

namespace SpotCheckpoint.Cli.Commands;

/// <summary>
/// <c>spotckpt simulate</c>: replays interruptions against the adaptive, Young/Daly, fixed and no-checkpoint
/// policies and prints wasted GPU time and cost per policy (a table, or JSON with <c>--json</c>).
/// </summary>
internal static class SimulateCommand
{
    public static Command Create()
    {
        var hazard = new Option<double?>("--hazard-per-hour") { Description = "Interruptions per hour, e.g. 0.041 for 4.1 %/h (default: the --gpu-family prior, else 0.041)" };
        var family = new Option<GpuFamily?>("--gpu-family")
        {
            Description = "Take the hazard from this GPU family's prior",
            // Unknown is the absence of a family, not a choice; help lists the real ones.
            HelpName = string.Join('|', Enum.GetNames<GpuFamily>().Where(n => n != nameof(GpuFamily.Unknown))),
        };
        family.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<GpuFamily?>() == GpuFamily.Unknown) result.AddError("--gpu-family must name a GPU family; leave it out when the family is not known.");
        });
        var noticeProbability = Number("--notice-probability", 0, "Probability that an interruption is announced in time");
        var noticeSeconds = Number("--notice-seconds", 120, "Seconds between a notice and the interruption");
        var stepSeconds = Number("--step-seconds", 1, "Duration of one training step");
        var stallSeconds = Number("--stall-seconds", 1, "Seconds a snapshot blocks training");
        var persistSeconds = Number("--persist-seconds", 10, "Seconds from a snapshot to its commit (background upload)");
        var persistCost = Number("--persist-cost-fraction", 0.1, "Share of the persist time that slows training down");
        var restartSeconds = Number("--restart-seconds", 300, "Seconds from an interruption until training runs again");
        var hours = Number("--hours", 24, "Wall-clock hours per simulated run");
        var fixedSeconds = Number("--fixed-interval-seconds", 1800, "Interval of the fixed policy to compare with");
        var onDemand = Number("--on-demand-price", 1.0, "Hourly on-demand price of the machine (any currency)");
        var spot = Number("--spot-price", 0.3, "Hourly spot price of the same machine");
        var prior = new Option<double?>("--adaptive-prior-per-hour") { Description = "Prior the adaptive policy starts from (default: the hazard)" };
        var runs = new Option<int>("--runs") { Description = "Runs to average over", DefaultValueFactory = _ => 200 };
        var seed = new Option<int>("--seed") { Description = "Seed of the random interruptions", DefaultValueFactory = _ => 1 };
        var trace = new Option<FileInfo?>("--trace") { Description = "CSV of interruption times (seconds from the start), replayed in every run" };
        var json = new Option<bool>("--json") { Description = "Write JSON for scripts instead of a table" };
        var html = new Option<FileInfo?>("--output") { Description = "Also write an HTML page: waste against interval per policy, the optimum, the cost view" };

        var command = new Command("simulate", "Replay spot interruptions against checkpoint policies and report wasted GPU time and cost.")
        {
            hazard, family, noticeProbability, noticeSeconds, stepSeconds, stallSeconds, persistSeconds, persistCost,
            restartSeconds, hours, runs, seed, trace, fixedSeconds, onDemand, spot, prior, json,
        };
        command.Options.Add(html);
        command.SetAction((parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            SimulationOptions options;
            try
            {
                var gpu = parse.GetValue(family);
                options = new SimulationOptions
                {
                    HazardPerHour = parse.GetValue(hazard) ?? (gpu is { } g ? HazardPriors.PerHour(g) : HazardPriors.H100PerHour),
                    AdaptivePriorPerHour = parse.GetValue(prior),
                    NoticeProbability = parse.GetValue(noticeProbability),
                    NoticeLead = Seconds(parse.GetValue(noticeSeconds), "--notice-seconds"),
                    StepDuration = Seconds(parse.GetValue(stepSeconds), "--step-seconds"),
                    Stall = Seconds(parse.GetValue(stallSeconds), "--stall-seconds"),
                    Persist = Seconds(parse.GetValue(persistSeconds), "--persist-seconds"),
                    PersistCostFraction = parse.GetValue(persistCost),
                    Restart = Seconds(parse.GetValue(restartSeconds), "--restart-seconds"),
                    Hours = parse.GetValue(hours),
                    Runs = parse.GetValue(runs),
                    Seed = parse.GetValue(seed),
                    FixedInterval = Seconds(parse.GetValue(fixedSeconds), "--fixed-interval-seconds"),
                    OnDemandPricePerHour = parse.GetValue(onDemand),
                    SpotPricePerHour = parse.GetValue(spot),
                };
                if (parse.GetValue(trace) is { } file) options.Trace = InterruptionTrace.Load(file.FullName);
                var report = CheckpointSimulator.Run(options, cancellationToken);
                if (parse.GetValue(html) is { } page) File.WriteAllText(page.FullName, Report.SimulationReportWriter.Html(report, options, cancellationToken));
                if (parse.GetValue(json)) output.WriteLine(JsonSerializer.Serialize(report, CliJsonContext.Default.SimulationReport));
                else WriteTable(report, options, output);
                return Task.FromResult(CliApp.Success);
            }
            catch (ArgumentException ex)
            {
                error.WriteLine($"error: {Describe(ex)}");
                return Task.FromResult(CliApp.UsageError);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
                error.WriteLine($"error: {ex.Message}");
                return Task.FromResult(CliApp.Failure);
            }
        });
        return command;
    }

    // SimulationOptions names its properties in messages; the user typed options.
    private static readonly Dictionary<string, string> OptionNames = new(StringComparer.Ordinal)
    {
        ["HazardPerHour"] = "--hazard-per-hour",
        ["AdaptivePriorPerHour"] = "--adaptive-prior-per-hour",
        ["NoticeProbability"] = "--notice-probability",
        ["NoticeLead"] = "--notice-seconds",
        ["StepDuration"] = "--step-seconds",
        ["Stall"] = "--stall-seconds",
        ["Persist"] = "--persist-seconds",
        ["PersistCostFraction"] = "--persist-cost-fraction",
        ["Restart"] = "--restart-seconds",
        ["Hours"] = "--hours",
        ["Runs"] = "--runs",
        ["FixedInterval"] = "--fixed-interval-seconds",
        ["OnDemandPricePerHour"] = "--on-demand-price",
        ["SpotPricePerHour"] = "--spot-price",
    };

    private static string Describe(ArgumentException ex)
    {
        var message = ex.Message.Split('\n')[0];
        int parameter = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        if (parameter >= 0) message = message[..parameter];
        if (ex.ParamName is { } name && OptionNames.TryGetValue(name, out var option))
            message = message.Replace(name, option, StringComparison.Ordinal);
        return message;
    }

    private static Option<double> Number(string name, double defaultValue, string description) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue }; // help shows [default: …] itself

    private static TimeSpan Seconds(double seconds, string option)
    {
        if (double.IsNaN(seconds) || double.IsInfinity(seconds) || seconds < 0 || seconds > TimeSpan.MaxValue.TotalSeconds / 2)
            throw new ArgumentOutOfRangeException(option, seconds, $"{option} must be a finite number of seconds >= 0.");
        return TimeSpan.FromSeconds(seconds);
    }

    private static void WriteTable(SimulationReport report, SimulationOptions options, TextWriter output)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = output == Console.Out ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = output == Console.Out ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        if (output != Console.Out || Console.IsOutputRedirected) console.Profile.Width = 160;
        var c = CultureInfo.InvariantCulture;
        console.WriteLine(string.Create(c,
            $"{report.Runs} runs x {report.HoursPerRun:0.##} h, hazard {report.HazardPerHour:P2}/h (MTTI {report.MeanTimeToInterruptionSeconds / 3600:0.#} h), " +
            $"step {options.StepDuration.TotalSeconds:0.###} s, checkpoint cost {report.CheckpointCostSeconds:0.###} s " +
            $"(stall {options.Stall.TotalSeconds:0.###} s + {options.PersistCostFraction:0.##} x persist {options.Persist.TotalSeconds:0.###} s), " +
            $"restart {options.Restart.TotalSeconds:0.#} s, notices {options.NoticeProbability:P0} at {options.NoticeLead.TotalSeconds:0.#} s"));
        console.WriteLine(string.Create(c,
            $"Young/Daly: interval {report.YoungDalyIntervalSeconds:0.#} s, expected waste {report.YoungDalyWastedFraction:P2}"));

        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("policy");
        foreach (var header in new[] { "wasted", "checkpoints h/run", "lost h/run", "restart h/run", "notice h/run", "intr./run", "steps lost/intr.", "mean interval s", "effective /h", "savings /month" })
            table.AddColumn(new TableColumn(header).RightAligned());
        foreach (var p in report.Policies)
        {
            table.AddRow(
                Markup.Escape(p.Name),
                p.WastedFraction.ToString("P2", c),
                p.CheckpointHoursPerRun.ToString("0.000", c),
                p.LostWorkHoursPerRun.ToString("0.000", c),
                p.RestartHoursPerRun.ToString("0.000", c),
                p.NoticeHoursPerRun.ToString("0.000", c),
                p.InterruptionsPerRun.ToString("0.00", c),
                p.StepsLostPerInterruption.ToString("0.#", c),
                p.MeanIntervalSeconds.ToString("0", c),
                p.Cost.EffectiveHourlyRate.ToString("0.0000", c),
                p.Cost.MonthlySavings.ToString("0.00", c));
        }
        console.Write(table);
        console.WriteLine(string.Create(c,
            $"Prices per hour: on-demand {report.OnDemandPricePerHour:0.0000}, spot {report.SpotPricePerHour:0.0000}. " +
            $"Effective = spot / (1 - wasted); savings = (on-demand - effective) x {CostView.HoursPerMonth:0} h."));
    }
}
