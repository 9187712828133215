namespace SpotCheckpoint.Notices;

/// <summary>What a notice means for the training process.</summary>
public enum NoticeKind
{
    /// <summary>The machine goes away at <see cref="TerminationNotice.Deadline"/>: take an emergency checkpoint and stop.</summary>
    Termination,

    /// <summary>The risk of losing the machine is high (for example an AWS rebalance recommendation); nothing is due yet.</summary>
    Risk,

    /// <summary>A platform event the process survives (Azure Freeze, GCP live migration). Logged only.</summary>
    Informational,
}

/// <summary>The names <see cref="TerminationNotice.Provider"/> takes for the built-in sources.</summary>
public static class NoticeProviders
{
    /// <summary>AWS EC2 instance metadata (spot instance actions, rebalance recommendations).</summary>
    public const string Aws = "aws";

    /// <summary>Google Compute Engine metadata server (preemption, host maintenance).</summary>
    public const string Gcp = "gcp";

    /// <summary>Azure IMDS Scheduled Events.</summary>
    public const string Azure = "azure";

    /// <summary>POSIX signals (SIGTERM from Kubernetes or a process manager, SIGINT from Ctrl-C).</summary>
    public const string Signal = "signal";

    /// <summary>A notice raised by the application through <see cref="NoticeHub.Raise"/>.</summary>
    public const string Custom = "custom";
}

/// <summary>
/// One notice, in the same shape whatever its source: who said it, what it means, when the machine goes away and
/// when the notice was seen. <see cref="Deadline"/> is the provider's conservative deadline; the
/// <see cref="NoticeHub"/> subtracts its safety margin on top.
/// </summary>
/// <param name="Provider">The source: one of <see cref="NoticeProviders"/> or a custom name.</param>
/// <param name="Kind">Termination, risk or informational.</param>
/// <param name="Action">The provider's word for it: <c>terminate</c>, <c>stop</c>, <c>hibernate</c>, <c>Preempt</c>, <c>SIGTERM</c>, …</param>
/// <param name="Deadline">When the machine is expected to go away.</param>
/// <param name="SeenAt">When this process first saw the notice.</param>
/// <param name="EventId">The provider's id of the event, when it has one (Azure EventId); notices are deduplicated by it.</param>
/// <param name="Payload">The raw document the notice was read from, for logs and diagnostics.</param>
public sealed record TerminationNotice(
    string Provider,
    NoticeKind Kind,
    string Action,
    DateTimeOffset Deadline,
    DateTimeOffset SeenAt,
    string? EventId = null,
    string? Payload = null)
{
    private readonly string? _id;

    /// <summary>The time from <see cref="SeenAt"/> to <see cref="Deadline"/>.</summary>
    public TimeSpan Window => Deadline - SeenAt;

    /// <summary>
    /// A stable identity of the event behind the notice, the same in a restarted process that reads the same standing
    /// notice again (<c>aws:instance-action:terminate:2030-01-21T09:00:00Z</c>, <c>azure:&lt;EventId&gt;</c>,
    /// <c>gcp:maintenance:&lt;window start or ETag&gt;</c>); recorded with the checkpoint a notice caused and given back to
    /// <see cref="NoticeHub.MarkHandled"/> on resume. Default: <c>provider:EventId</c> when there is an event id, else
    /// <c>provider:action:SeenAt</c>, which never matches a later process (a notice without a stable identity is acted
    /// on every time it is seen).
    /// </summary>
    public string Id
    {
        get => _id ?? (EventId is not null ? $"{Provider}:{EventId}" : $"{Provider}:{Action}:{SeenAt.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffffffZ}");
        init => _id = string.IsNullOrWhiteSpace(value) ? null : value;
    }

    /// <summary>Acted on at the next step whatever the time left (a termination the application asked for itself).</summary>
    internal bool Immediate { get; init; }

    internal string DedupeKey => $"{Provider}|{Kind}|{EventId ?? Action}";
}
