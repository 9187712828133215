using SpotCheckpoint.Notices;
using SpotCheckpoint.Scheduling;

namespace SpotCheckpoint.Hosting;

/// <summary>Turns bound <see cref="SpotCheckpointOptions"/> into the core <see cref="CheckpointerOptions"/>.</summary>
internal static class CheckpointerOptionsMapper
{
    /// <summary>Applies every set value; unset ones keep the core defaults. Throws what the core throws for bad values.</summary>
    public static void Apply(SpotCheckpointOptions source, CheckpointerOptions target, TimeProvider timeProvider)
    {
        if (source.RunId is { } runId) target.RunId = runId;
        target.Policy = CreatePolicy(source.Policy, timeProvider);
        if (source.KeepLast is { } keep) target.KeepLast = keep;
        if (source.MaxShardBytes is { } shard) target.MaxShardBytes = shard;
        if (source.Incremental is { } incremental) target.Incremental = incremental;
        if (source.FullCheckpointEvery is { } full) target.FullCheckpointEvery = full;
        if (source.StagingBuffers is { } buffers) target.StagingBuffers = buffers;
        if (source.WhenBusy is { } busy) target.WhenBusy = busy;
        if (source.MaxBusyWait is { } wait) target.MaxBusyWait = wait;
        if (source.CaptureCpuRng is { } rng) target.CaptureCpuRng = rng;
        if (source.CudaSeed is { } seed) target.CudaSeed = seed;
        if (source.IncompleteUploadMaxAge is { } age) target.IncompleteUploadMaxAge = age;
        if (source.MaxConsecutiveFailures is { } failures) target.MaxConsecutiveFailures = failures;
        if (source.ProbeLocation is { } probe) target.ProbeLocation = probe;
        if (source.ProbeTimeout is { } probeTimeout) target.ProbeTimeout = probeTimeout;
        if (source.DisposeTimeout is { } disposeTimeout) target.DisposeTimeout = disposeTimeout;
        target.Cost.OnDemandPerHour = source.Cost.OnDemandPricePerHour;
        target.Cost.SpotPerHour = source.Cost.SpotPricePerHour;
        if (source.Notices.SafetyMargin is { } margin) target.Notices.SafetyMargin = margin;
        if (source.Notices.EmergencyLeadTime is { } lead) target.Notices.EmergencyLeadTime = lead;
        switch (source.Notices.Cloud)
        {
            case CloudNotices.Auto: target.Notices.UseCloudAutoDetection(); break;
            case CloudNotices.Aws: target.Notices.UseAwsSpotNotices(); break;
            case CloudNotices.Gcp: target.Notices.UseGcpPreemptionNotices(); break;
            case CloudNotices.Azure: target.Notices.UseAzureScheduledEvents(); break;
        }
    }

    /// <summary>Builds the configured policy. Throws <see cref="ArgumentException"/> naming the bad property.</summary>
    public static CheckpointPolicy CreatePolicy(PolicySettings policy, TimeProvider timeProvider) => policy.Kind switch
    {
        PolicyKind.Interval => CheckpointPolicy.Every(policy.Interval ?? TimeSpan.FromMinutes(10)),
        PolicyKind.Steps => CheckpointPolicy.EverySteps(policy.Steps
            ?? throw new ArgumentException("Steps is required when Kind is Steps.", nameof(PolicySettings.Steps))),
        PolicyKind.Adaptive => CheckpointPolicy.Adaptive(o => ApplyAdaptive(policy.Adaptive, o, timeProvider)),
        PolicyKind.Manual => CheckpointPolicy.Manual,
        _ => throw new ArgumentOutOfRangeException(nameof(PolicySettings.Kind), policy.Kind, "Kind must be Interval, Steps, Adaptive or Manual."),
    };

    private static void ApplyAdaptive(AdaptivePolicySettings s, AdaptiveCheckpointPolicyOptions o, TimeProvider timeProvider)
    {
        o.TimeProvider = timeProvider;
        o.HazardPerHour = s.HazardPerHour;
        if (s.GpuFamily is { } family) o.GpuFamily = family;
        o.InstanceType = s.InstanceType;
        if (s.PriorWeightHours is { } weight) o.PriorWeightHours = weight;
        if (s.WeekendFactor is { } weekend) o.WeekendFactor = weekend;
        if (s.MinInterval is { } min) o.MinInterval = min;
        if (s.MaxInterval is { } max) o.MaxInterval = max;
        if (s.InitialCheckpointCost is { } cost) o.InitialCheckpointCost = cost;
        if (s.PersistCostFraction is { } fraction) o.PersistCostFraction = fraction;
        if (s.NoticeCoverage is { } coverage) o.NoticeCoverage = coverage;
    }
}
