namespace SpotCheckpoint.Diagnostics;

/// <summary>
/// What the machine is and what it costs, recorded in every manifest's history so that <c>spotckpt report</c> can
/// put a price on the run (<see cref="CheckpointerOptions.Cost"/>). All optional; nothing here is looked up over the
/// network.
/// </summary>
public sealed class CostOptions
{
    /// <summary>On-demand price per hour of the same machine; null when unknown.</summary>
    public double? OnDemandPerHour { get; set; }

    /// <summary>Spot price per hour; null when unknown.</summary>
    public double? SpotPerHour { get; set; }

    /// <summary>The currency of both prices, for example <c>USD</c>; null when unknown.</summary>
    public string? Currency { get; set; }

    /// <summary>The machine type, for example <c>p5.48xlarge</c>; null when unknown.</summary>
    public string? InstanceType { get; set; }

    /// <summary>The region, for example <c>us-east-1</c>; null when unknown.</summary>
    public string? Region { get; set; }

    /// <summary>The zone, for example <c>us-east-1a</c>; null when unknown.</summary>
    public string? Zone { get; set; }

    internal void Validate()
    {
        Price(OnDemandPerHour, nameof(OnDemandPerHour));
        Price(SpotPerHour, nameof(SpotPerHour));
        Text(Currency, nameof(Currency));
        Text(InstanceType, nameof(InstanceType));
        Text(Region, nameof(Region));
        Text(Zone, nameof(Zone));
    }

    private static void Price(double? value, string name)
    {
        if (value is { } v && (!(v >= 0) || double.IsInfinity(v)))
            throw new ArgumentOutOfRangeException(name, v, $"Cost.{name} must be a finite price >= 0.");
    }

    private static void Text(string? value, string name)
    {
        if (value is not null && (value.Length is 0 or > 64 || value.Any(char.IsControl)))
            throw new ArgumentException($"Cost.{name} must be 1-64 printable characters.", name);
    }
}
