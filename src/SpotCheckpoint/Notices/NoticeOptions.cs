using SpotCheckpoint.Notices.Aws;
using SpotCheckpoint.Notices.Azure;
using SpotCheckpoint.Notices.Gcp;
using SpotCheckpoint.Notices.Signals;

namespace SpotCheckpoint.Notices;

/// <summary>
/// Which termination notices a <see cref="Checkpointer"/> watches (<see cref="CheckpointerOptions.Notices"/>).
/// None by default; add sources with the <c>Use…</c> extension methods.
/// </summary>
public sealed class NoticeOptions
{
    /// <summary>The sources to watch. Each instance belongs to one checkpointer.</summary>
    public IList<INoticeSource> Sources { get; } = new List<INoticeSource>();

    /// <summary>
    /// Subtracted from every provider deadline: the emergency checkpoint aims to commit this long before the
    /// machine goes away (clock skew, the process's own shutdown). Default 5 s.
    /// </summary>
    public TimeSpan SafetyMargin { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A termination notice that leaves more time than this (after <see cref="SafetyMargin"/>) does not stop training
    /// at once: the emergency checkpoint starts this long before the deadline, or as long before it as the last
    /// checkpoint took (padded) when that is longer. Training goes on until then: a GCP GPU VM's one-hour maintenance
    /// notice or an Azure Redeploy ten minutes ahead costs only the checkpoint. Default 2 min.
    /// </summary>
    public TimeSpan EmergencyLeadTime { get; set; } = TimeSpan.FromMinutes(2);

    internal void Validate()
    {
        if (EmergencyLeadTime < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(EmergencyLeadTime), EmergencyLeadTime, "EmergencyLeadTime cannot be negative.");
        if (SafetyMargin < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(SafetyMargin), SafetyMargin, "SafetyMargin cannot be negative.");
        if (Sources.Any(s => s is null)) throw new ArgumentException("Notices.Sources contains null.", nameof(Sources));
    }
}

/// <summary>Adds notice sources to <see cref="NoticeOptions"/>.</summary>
public static class NoticeOptionsExtensions
{
    /// <summary>Watches AWS EC2 spot instance actions and rebalance recommendations (IMDSv2).</summary>
    public static NoticeOptions UseAwsSpotNotices(this NoticeOptions notices, Action<AwsSpotNoticeOptions>? configure = null) =>
        notices.UseSource(new AwsSpotNoticeSource(Configure(configure)));

    /// <summary>Watches GCP preemption and TERMINATE_ON_HOST_MAINTENANCE through the metadata server's long-poll.</summary>
    public static NoticeOptions UseGcpPreemptionNotices(this NoticeOptions notices, Action<GcpPreemptionNoticeOptions>? configure = null) =>
        notices.UseSource(new GcpPreemptionNoticeSource(Configure(configure)));

    /// <summary>Watches Azure Scheduled Events for this VM (Preempt, Terminate, Reboot and Redeploy end the process; Freeze is logged).</summary>
    public static NoticeOptions UseAzureScheduledEvents(this NoticeOptions notices, Action<AzureScheduledEventsOptions>? configure = null) =>
        notices.UseSource(new AzureScheduledEventsSource(Configure(configure)));

    /// <summary>
    /// Treats SIGTERM and SIGINT as a termination notice with a grace period (default 30 s, Kubernetes' default):
    /// the process is not killed by the signal; it takes the emergency checkpoint and stops.
    /// </summary>
    public static NoticeOptions UseSignals(this NoticeOptions notices, Action<SignalNoticeOptions>? configure = null) =>
        notices.UseSource(new SignalNoticeSource(Configure(configure)));

    /// <summary>
    /// Probes the AWS, GCP and Azure metadata services in parallel (a short timeout each) when the checkpointer
    /// starts, then watches the one that answered. When none answers, probes again in the background with growing
    /// gaps (<see cref="CloudDetectionOptions.RetryFor"/>, 1 h by default), then stops: off a cloud nothing more is sent.
    /// </summary>
    public static NoticeOptions UseCloudAutoDetection(this NoticeOptions notices, Action<CloudDetectionOptions>? configure = null) =>
        notices.UseSource(new CloudAutoDetectSource(Configure(configure)));

    /// <summary>Adds a source of your own.</summary>
    public static NoticeOptions UseSource(this NoticeOptions notices, INoticeSource source)
    {
        ArgumentNullException.ThrowIfNull(notices);
        ArgumentNullException.ThrowIfNull(source);
        notices.Sources.Add(source);
        return notices;
    }

    private static T Configure<T>(Action<T>? configure) where T : new()
    {
        var options = new T();
        configure?.Invoke(options);
        return options;
    }
}
