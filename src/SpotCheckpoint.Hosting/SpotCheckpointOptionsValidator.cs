using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Hosting;

/// <summary>
/// Validates <see cref="SpotCheckpointOptions"/> when the host starts. Every failure names the configuration key
/// (<c>SpotCheckpoint:KeepLast</c>, …) and what it must be, so the message can be acted on without the code.
/// </summary>
internal sealed class SpotCheckpointOptionsValidator : IValidateOptions<SpotCheckpointOptions>
{
    private readonly string _path;
    private readonly IServiceProviderIsService? _services;

    public SpotCheckpointOptionsValidator(string configurationPath, IServiceProviderIsService? services)
    {
        _path = configurationPath;
        _services = services;
    }

    public ValidateOptionsResult Validate(string? name, SpotCheckpointOptions options)
    {
        var failures = new List<string>();
        void Fail(string key, string problem) => failures.Add($"{_path}:{key} {problem}");

        if (string.IsNullOrWhiteSpace(options.Location) && _services?.IsService(typeof(ICheckpointStore)) != true)
            Fail("Location", "is required: a local path or a store URI such as s3://bucket/prefix (or register an ICheckpointStore).");
        if (options.RunId is { } runId)
        {
            try { StoreKeys.ValidateRunId(runId); }
            catch (ArgumentException) { Fail("RunId", $"'{runId}' is not valid: use 1-128 letters, digits, '.', '_' or '-', not starting with '.'."); }
        }
        if (options.KeepLast is < 1) Fail("KeepLast", $"must be at least 1 (found {options.KeepLast}).");
        if (options.MaxShardBytes is < 1 << 20) Fail("MaxShardBytes", $"must be at least 1048576 (1 MiB) (found {options.MaxShardBytes}).");
        if (options.FullCheckpointEvery is < 0) Fail("FullCheckpointEvery", $"cannot be negative (0 or unset: never) (found {options.FullCheckpointEvery}).");
        if (options.StagingBuffers is < 1 or > 4) Fail("StagingBuffers", $"must be 1 to 4 (found {options.StagingBuffers}).");
        if (options.MaxBusyWait < TimeSpan.Zero) Fail("MaxBusyWait", $"cannot be negative (found {options.MaxBusyWait}).");
        if (options.IncompleteUploadMaxAge <= TimeSpan.Zero) Fail("IncompleteUploadMaxAge", $"must be positive: a zero age would abort uploads that are still running (found {options.IncompleteUploadMaxAge}).");
        if (options.MaxConsecutiveFailures < 1) Fail("MaxConsecutiveFailures", $"must be at least 1 (found {options.MaxConsecutiveFailures}).");
        if (options.ProbeTimeout <= TimeSpan.Zero) Fail("ProbeTimeout", $"must be positive (found {options.ProbeTimeout}).");
        if (options.DisposeTimeout < TimeSpan.Zero) Fail("DisposeTimeout", $"cannot be negative (found {options.DisposeTimeout}).");
        if (options.Notices.EmergencyLeadTime < TimeSpan.Zero) Fail("Notices:EmergencyLeadTime", $"cannot be negative (found {options.Notices.EmergencyLeadTime}).");

        ValidatePolicy(options.Policy, Fail);

        if (options.Notices.SafetyMargin < TimeSpan.Zero) Fail("Notices:SafetyMargin", $"cannot be negative (found {options.Notices.SafetyMargin}).");
        if (options.Notices.HostShutdownTimeLeft is { } timeLeft && timeLeft <= TimeSpan.Zero) Fail("Notices:HostShutdownTimeLeft", $"must be positive (found {options.Notices.HostShutdownTimeLeft}).");
        if (!Enum.IsDefined(options.Notices.Cloud)) Fail("Notices:Cloud", "must be None, Auto, Aws, Gcp or Azure.");

        var cost = options.Cost;
        if (cost.OnDemandPricePerHour.HasValue != cost.SpotPricePerHour.HasValue)
            Fail(cost.OnDemandPricePerHour.HasValue ? "Cost:SpotPricePerHour" : "Cost:OnDemandPricePerHour", "is required when the other price is set.");
        if (cost.OnDemandPricePerHour is { } onDemand && !(onDemand >= 0 && double.IsFinite(onDemand))) Fail("Cost:OnDemandPricePerHour", $"must be a finite price >= 0 (found {onDemand}).");
        if (cost.SpotPricePerHour is { } spot && !(spot >= 0 && double.IsFinite(spot))) Fail("Cost:SpotPricePerHour", $"must be a finite price >= 0 (found {spot}).");

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void ValidatePolicy(PolicySettings policy, Action<string, string> fail)
    {
        switch (policy.Kind)
        {
            case PolicyKind.Interval when policy.Interval is { } interval && interval <= TimeSpan.Zero:
                fail("Policy:Interval", $"must be positive (found {interval}).");
                return;
            case PolicyKind.Steps when policy.Steps is null:
                fail("Policy:Steps", "is required when Policy:Kind is Steps.");
                return;
            case PolicyKind.Steps when policy.Steps < 1:
                fail("Policy:Steps", $"must be at least 1 (found {policy.Steps}).");
                return;
            case PolicyKind.Adaptive:
                try { CheckpointerOptionsMapper.CreatePolicy(policy, TimeProvider.System); }
                catch (ArgumentException ex) { fail($"Policy:Adaptive:{ex.ParamName}", FirstLine(ex) + "."); }
                return;
            case PolicyKind.Interval or PolicyKind.Steps or PolicyKind.Manual:
                return;
            default:
                fail("Policy:Kind", "must be Interval, Steps, Adaptive or Manual.");
                return;
        }
    }

    /// <summary>The core's message without the "(Parameter …)" and "Actual value" lines, and without the property name it starts with.</summary>
    private static string FirstLine(ArgumentException ex)
    {
        var message = ex.Message.Split('\n')[0].Trim();
        int parameter = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        if (parameter >= 0) message = message[..parameter];
        if (ex.ParamName is { } name && message.StartsWith(name + " ", StringComparison.Ordinal)) message = message[(name.Length + 1)..];
        return message.TrimEnd('.');
    }
}
