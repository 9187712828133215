namespace SpotCheckpoint.Notices.Gcp;

/// <summary>Options of the GCP preemption notice source (<see cref="NoticeOptionsExtensions.UseGcpPreemptionNotices"/>).</summary>
public sealed class GcpPreemptionNoticeOptions
{
    /// <summary>The metadata server's host[:port]; the Google client libraries' variable.</summary>
    public const string HostVariable = "GCE_METADATA_HOST";

    /// <summary>
    /// The metadata server. Default: <c>http://</c> + <c>GCE_METADATA_HOST</c> when set, else
    /// <c>http://169.254.169.254</c> (the address of metadata.google.internal, no DNS needed).
    /// </summary>
    public Uri? Endpoint { get; set; }

    /// <summary><c>timeout_sec</c> of each long-poll: the server answers at a change or after this. Default 60 s.</summary>
    public TimeSpan LongPollTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Timeout of a plain request; a long-poll gets <see cref="LongPollTimeout"/> on top. Default 2 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The time between the preemption notice and power-off: the deadline is seen + this. Default 30 s.</summary>
    public TimeSpan PreemptionWindow { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Also watch <c>instance/maintenance-event</c>; TERMINATE_ON_HOST_MAINTENANCE is a termination. Default true.</summary>
    public bool WatchMaintenanceEvents { get; set; } = true;

    /// <summary>The warning before a TERMINATE_ON_HOST_MAINTENANCE on a VM without GPUs. Default 60 s.</summary>
    public TimeSpan MaintenanceWindow { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The warning before a TERMINATE_ON_HOST_MAINTENANCE on a VM with GPUs ("a 1-hour stopping notice"). Default 1 h.</summary>
    public TimeSpan GpuMaintenanceWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Whether this VM has GPUs (which decides the maintenance warning). Default null: read from the metadata
    /// server — a machine type with built-in GPUs (<c>a2-</c>, <c>a3-</c>, <c>a4-</c>, <c>g2-</c>, <c>g4-</c>) or a
    /// non-empty <c>instance/guest-accelerators</c> list where the server has one. Set it for other cases (an N1 VM
    /// with attached GPUs whose server lists none).
    /// </summary>
    public bool? HasGpus { get; set; }

    /// <summary>
    /// Plan for the 24-hour limit of preemptible (not Spot) VMs: a termination notice with the deadline
    /// <see cref="InstanceStartedAt"/> + 24 h is raised <see cref="PreemptibleLimitNoticeLead"/> before it, so the
    /// emergency checkpoint commits before Compute Engine stops the VM. Default true.
    /// </summary>
    public bool WatchPreemptibleLimit { get; set; } = true;

    /// <summary>
    /// When the VM started, for the 24-hour limit. Default null: the operating system's boot time (now minus its
    /// uptime), which lags the instance's start by the boot itself (under a minute; the safety margin covers it).
    /// </summary>
    public DateTimeOffset? InstanceStartedAt { get; set; }

    /// <summary>How long before the 24-hour limit its notice is raised. Default 15 min.</summary>
    public TimeSpan PreemptibleLimitNoticeLead { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>The longest wait between retries after failures (503, no reply). Default 30 s.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    internal Uri ResolveEndpoint() => MetadataHttp.Resolve(Endpoint, HostVariable, MetadataHttp.LinkLocal,
        host => host.Contains("://", StringComparison.Ordinal) ? host : "http://" + host);
}
