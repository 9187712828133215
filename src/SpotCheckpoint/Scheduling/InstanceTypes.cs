namespace SpotCheckpoint.Scheduling;

/// <summary>
/// Maps cloud instance (machine, VM size) names to the GPU they carry: AWS EC2 instance types
/// (<c>p5.48xlarge</c>), GCP machine types (<c>a3-highgpu-8g</c>, also as the metadata server's
/// <c>projects/…/machineTypes/a3-highgpu-8g</c>) and Azure VM sizes (<c>Standard_ND96isr_H100_v5</c>).
/// </summary>
/// <remarks>
/// Sources: the providers' instance catalogues — AWS "Amazon EC2 accelerated computing instances", Google Cloud
/// "GPU machine types", Microsoft Learn "GPU accelerated VM sizes". GCP N1 machines take attachable GPUs that the
/// machine type does not name, so they map to <see cref="GpuFamily.Unknown"/>.
/// </remarks>
public static class InstanceTypes
{
    // Checked in order: the first prefix that matches wins, so longer prefixes come before shorter ones.
    private static readonly (string Prefix, GpuFamily Family)[] Aws =
    [
        ("p6-b200.", GpuFamily.B200),
        ("p5en.", GpuFamily.H200),
        ("p5e.", GpuFamily.H200),
        ("p5.", GpuFamily.H100),
        ("p4de.", GpuFamily.A100),
        ("p4d.", GpuFamily.A100),
        ("p3dn.", GpuFamily.V100),
        ("p3.", GpuFamily.V100),
        ("g6e.", GpuFamily.L40S),
        ("g6.", GpuFamily.L4),
        ("g5.", GpuFamily.A10G),
        ("g4dn.", GpuFamily.T4),
    ];

    private static readonly (string Prefix, GpuFamily Family)[] Gcp =
    [
        ("a4-highgpu-", GpuFamily.B200),
        ("a3-ultragpu-", GpuFamily.H200),
        ("a3-", GpuFamily.H100),
        ("a2-", GpuFamily.A100),
        ("g2-", GpuFamily.L4),
    ];

    // Azure sizes: Standard_<series><vcpus><features>_<accelerator>_v<n>. Names carrying the GPU are matched by it;
    // the older series (NCv3, NDv2, ND A100 v4 without the GPU in its name, NCasT4_v3) by their series and version.
    private static readonly (string Token, GpuFamily Family)[] AzureGpuTokens =
    [
        ("_gb200_", GpuFamily.B200),
        ("_b200_", GpuFamily.B200),
        ("_h200_", GpuFamily.H200),
        ("_h100_", GpuFamily.H100),
        ("_a100_", GpuFamily.A100),
        ("_t4_", GpuFamily.T4),
        ("_a10_", GpuFamily.A10G),
    ];

    /// <summary>
    /// The GPU family of <paramref name="instanceType"/>, or <see cref="GpuFamily.Unknown"/> when it carries no
    /// GPU this table knows. Case-insensitive; surrounding whitespace and a GCP resource path are ignored.
    /// </summary>
    /// <example><c>GpuFamilyOf("p4d.24xlarge")</c> is <see cref="GpuFamily.A100"/>.</example>
    public static GpuFamily GpuFamilyOf(string? instanceType)
    {
        if (string.IsNullOrWhiteSpace(instanceType)) return GpuFamily.Unknown;
        var name = instanceType.Trim().ToLowerInvariant();
        int slash = name.LastIndexOf('/');
        if (slash >= 0) name = name[(slash + 1)..];

        if (name.StartsWith("standard_", StringComparison.Ordinal) || name.StartsWith("basic_", StringComparison.Ordinal))
            return Azure(name);
        foreach (var (prefix, family) in Aws)
            if (name.StartsWith(prefix, StringComparison.Ordinal)) return family;
        foreach (var (prefix, family) in Gcp)
            if (name.StartsWith(prefix, StringComparison.Ordinal)) return family;
        return GpuFamily.Unknown;
    }

    private static GpuFamily Azure(string name)
    {
        var padded = name + "_";
        foreach (var (token, family) in AzureGpuTokens)
            if (padded.Contains(token, StringComparison.Ordinal)) return family;
        var series = name["standard_".Length..];
        // ND96asr_v4 (ND A100 v4).
        if (series.StartsWith("nd", StringComparison.Ordinal) && name.EndsWith("_v4", StringComparison.Ordinal) && series.Contains("asr", StringComparison.Ordinal))
            return GpuFamily.A100;
        // NC6s_v3 … NC24rs_v3 (NCv3) and ND40rs_v2 (NDv2): V100.
        if (series.StartsWith("nc", StringComparison.Ordinal) && name.EndsWith("s_v3", StringComparison.Ordinal)) return GpuFamily.V100;
        if (series.StartsWith("nd", StringComparison.Ordinal) && name.EndsWith("rs_v2", StringComparison.Ordinal)) return GpuFamily.V100;
        return GpuFamily.Unknown;
    }
}
