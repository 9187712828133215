using System.Runtime.InteropServices;

namespace SpotCheckpoint.Notices.Signals;

/// <summary>Options of the signal notice source (<see cref="NoticeOptionsExtensions.UseSignals"/>).</summary>
public sealed class SignalNoticeOptions
{
    /// <summary>
    /// How long the process may take after the signal before it is killed: the deadline is seen + this. Default
    /// 30 s, Kubernetes' default terminationGracePeriodSeconds (a preStop hook's time counts against it).
    /// </summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The signals that are notices. Default SIGTERM and SIGINT.</summary>
    public IList<PosixSignal> Signals { get; } = new List<PosixSignal> { PosixSignal.SIGTERM, PosixSignal.SIGINT };

    /// <summary>
    /// A second signal, after the first was turned into a notice, gets its default action (the process ends at
    /// once), so pressing Ctrl-C twice still quits. Default true.
    /// </summary>
    public bool SecondSignalTerminates { get; set; } = true;
}
