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

    /// <summary>The warning before a TERMINATE_ON_HOST_MAINTENANCE. Default 60 s.</summary>
    public TimeSpan MaintenanceWindow { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The longest wait between retries after failures (503, no reply). Default 30 s.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    internal Uri ResolveEndpoint() => MetadataHttp.Resolve(Endpoint, HostVariable, MetadataHttp.LinkLocal,
        host => host.Contains("://", StringComparison.Ordinal) ? host : "http://" + host);
}
