namespace SpotCheckpoint.Scheduling;

/// <summary>
/// The interruption rates the adaptive scheduler starts from before a run has observed any interruption of its own.
/// They are working figures, deliberately on the pessimistic side for scarce GPU capacity; a run replaces them with
/// what it observes (<see cref="HazardModel"/>), and <see cref="AdaptiveCheckpointPolicyOptions.HazardPerHour"/>
/// overrides them. docs/scheduling.md explains where they come from and how to measure your own.
/// </summary>
public static class HazardPriors
{
    /// <summary>H100 (and, until it has a figure of its own, H200): 4.1 % per hour.</summary>
    public const double H100PerHour = 0.041;

    /// <summary>A100: 2.3 % per hour.</summary>
    public const double A100PerHour = 0.023;

    /// <summary>V100: 0.8 % per hour.</summary>
    public const double V100PerHour = 0.008;

    /// <summary>Any other or unknown GPU: the A100 figure, the middle of the table.</summary>
    public const double DefaultPerHour = A100PerHour;

    /// <summary>Hazard on Saturdays and Sundays (UTC) relative to weekdays: 0.6, i.e. 40 % lower.</summary>
    public const double WeekendFactor = 0.6;

    /// <summary>The prior interruption rate (per hour) of <paramref name="family"/>.</summary>
    public static double PerHour(GpuFamily family) => family switch
    {
        GpuFamily.H100 or GpuFamily.H200 => H100PerHour,
        GpuFamily.A100 => A100PerHour,
        GpuFamily.V100 => V100PerHour,
        _ => DefaultPerHour,
    };
}
