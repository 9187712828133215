namespace SpotCheckpoint.Notices.Aws;

/// <summary>Options of the AWS EC2 spot notice source (<see cref="NoticeOptionsExtensions.UseAwsSpotNotices"/>).</summary>
public sealed class AwsSpotNoticeOptions
{
    /// <summary>The instance metadata service; the AWS SDKs' variable.</summary>
    public const string EndpointVariable = "AWS_EC2_METADATA_SERVICE_ENDPOINT";

    /// <summary>Set to <c>true</c>, the AWS SDKs' variable turns the metadata service off: nothing is sent to it.</summary>
    public const string DisabledVariable = "AWS_EC2_METADATA_DISABLED";

    /// <summary>
    /// The metadata endpoint. Default: <c>AWS_EC2_METADATA_SERVICE_ENDPOINT</c> when set, else
    /// <c>http://169.254.169.254</c> (<c>http://[fd00:ec2::254]</c> with <see cref="UseIPv6"/>).
    /// </summary>
    public Uri? Endpoint { get; set; }

    /// <summary>Use the IPv6 address of the metadata service (Nitro instances). Default false.</summary>
    public bool UseIPv6 { get; set; }

    /// <summary>How often <c>spot/instance-action</c> is polled. Default 2 s (AWS advises 5 s at most).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Timeout of each request, including the token PUT. Default 2 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Lifetime asked for the IMDSv2 session token (1 s to 6 h); it is renewed well before it ends. Default 6 h.</summary>
    public TimeSpan TokenTtl { get; set; } = TimeSpan.FromHours(6);

    /// <summary>
    /// Fall back to IMDSv1 (no token) when the token PUT is refused or times out — inside a container with the
    /// default hop limit of 1 the PUT never gets an answer. Off by default: opt in only where IMDSv1 is allowed.
    /// </summary>
    public bool AllowImdsV1 { get; set; }

    /// <summary>Also poll <c>events/recommendations/rebalance</c> and report it as a risk signal. Default true.</summary>
    public bool WatchRebalanceRecommendations { get; set; } = true;

    /// <summary>
    /// Also poll <c>events/maintenance/scheduled</c>. An <c>instance-stop</c>, <c>instance-retirement</c>,
    /// <c>instance-reboot</c> or <c>system-reboot</c> ends the process: it is a termination notice with its start
    /// (<c>NotBefore</c>) as the deadline, and training goes on until the emergency checkpoint must start. A
    /// <c>system-maintenance</c> event is a risk signal (checkpoint soon). Default true.
    /// </summary>
    public bool WatchScheduledMaintenance { get; set; } = true;

    /// <summary>How often <c>events/maintenance/scheduled</c> is polled (events are scheduled days ahead). Default 60 s.</summary>
    public TimeSpan MaintenancePollInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The warning AWS gives: the deadline is min(notice time, seen + this). Default 120 s.</summary>
    public TimeSpan NoticeWindow { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>The longest wait between retries after failures (429, 5xx, no reply). Default 30 s.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>True when <c>AWS_EC2_METADATA_DISABLED</c> is <c>true</c>.</summary>
    internal static bool DisabledByEnvironment =>
        string.Equals(Environment.GetEnvironmentVariable(DisabledVariable)?.Trim(), "true", StringComparison.OrdinalIgnoreCase);

    internal Uri ResolveEndpoint() => MetadataHttp.Resolve(Endpoint, EndpointVariable,
        UseIPv6 ? "http://[fd00:ec2::254]" : MetadataHttp.LinkLocal);
}
