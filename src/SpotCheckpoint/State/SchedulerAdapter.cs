using System.Reflection;
using SpotCheckpoint.Format;
using static TorchSharp.torch.optim.lr_scheduler;

namespace SpotCheckpoint.State;

/// <summary>
/// Captures and restores an LR scheduler. TorchSharp's schedulers have no state_dict; their mutable state is the
/// base class's epoch and step counters and learning-rate lists (plus a few fields of ReduceLROnPlateau). Their
/// configuration (gamma, milestones, phases, lambdas) comes from the constructor the user runs again on resume.
/// </summary>
internal static class SchedulerAdapter
{
    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;

    private static readonly FieldInfo? LastEpoch = typeof(LRScheduler).GetField("_last_epoch", Instance);
    private static readonly FieldInfo? StepCount = typeof(LRScheduler).GetField("_step_count", Instance);
    private static readonly FieldInfo? LastLrs = typeof(LRScheduler).GetField("_last_lrs", Instance);
    private static readonly FieldInfo? BaseLrs = typeof(LRScheduler).GetField("_base_lrs", Instance);

    private static readonly string[] PlateauFields = ["best", "num_bad_epochs", "cooldown_counter"];

    /// <summary>Throws <see cref="UnsupportedStateException"/> for schedulers that cannot be captured exactly.</summary>
    public static void EnsureSupported(LRScheduler scheduler, string name)
    {
        if (LastEpoch is null || StepCount is null || LastLrs is null || BaseLrs is null)
            throw new UnsupportedStateException(
                "This TorchSharp version's LRScheduler does not have the fields SpotCheckpoint restores; " +
                "use the TorchSharp version this SpotCheckpoint release was built for.");
        if (IsWrapper(scheduler) && InnerField(scheduler) is null)
            throw new UnsupportedStateException(
                $"Scheduler '{name}' is a {scheduler.GetType().Name} whose wrapped schedulers this TorchSharp version hides; " +
                "register those schedulers individually.");
        foreach (var inner in Inner(scheduler)) EnsureSupported(inner, name);
    }

    private static bool IsWrapper(LRScheduler scheduler) => scheduler.GetType().Name is "SequentialLR" or "ChainedLR";

    // SequentialLR and ChainedLR keep the wrapped schedulers in a private '_schedulers' field (an array or a sequence).
    private static FieldInfo? InnerField(LRScheduler scheduler) =>
        scheduler.GetType().GetField("_schedulers", Instance) is { } f && typeof(IEnumerable<LRScheduler>).IsAssignableFrom(f.FieldType) ? f : null;

    /// <summary>The schedulers a SequentialLR or ChainedLR wraps, in order; empty for others.</summary>
    private static IReadOnlyList<LRScheduler> Inner(LRScheduler scheduler) =>
        IsWrapper(scheduler) && InnerField(scheduler)?.GetValue(scheduler) is IEnumerable<LRScheduler> inner
            ? inner.ToList()
            : Array.Empty<LRScheduler>();

    // ChainedLR never runs the base constructor, so its learning-rate lists are null.
    private static List<double> Lrs(FieldInfo field, LRScheduler scheduler) =>
        field.GetValue(scheduler) is IList<double> list ? list.ToList() : new List<double>();

    public static SchedulerEntry Capture(LRScheduler scheduler, string name)
    {
        var entry = new SchedulerEntry
        {
            Name = name,
            Type = scheduler.GetType().Name,
            LastEpoch = (int)LastEpoch!.GetValue(scheduler)!,
            StepCount = (int)StepCount!.GetValue(scheduler)!,
            LastLrs = Lrs(LastLrs!, scheduler),
            BaseLrs = Lrs(BaseLrs!, scheduler),
        };
        foreach (var field in ExtraFields(scheduler))
            entry.Extra[field.Name] = Convert.ToDouble(field.GetValue(scheduler), System.Globalization.CultureInfo.InvariantCulture);
        if (IsWrapper(scheduler))
            entry.Inner = Inner(scheduler).Select((s, i) => Capture(s, $"{name}/{i}")).ToList();
        return entry;
    }

    /// <summary>Checks that <paramref name="entry"/> fits <paramref name="scheduler"/> without changing it.</summary>
    public static void Check(LRScheduler scheduler, SchedulerEntry entry)
    {
        var owner = "scheduler/" + entry.Name;
        if (entry.Type != scheduler.GetType().Name)
            throw new CheckpointMismatchException(owner, $"the checkpoint holds a {entry.Type}, the registered scheduler is a {scheduler.GetType().Name}");
        var groups = Lrs(BaseLrs!, scheduler).Count;
        if (entry.LastLrs.Count != groups || entry.BaseLrs.Count != groups)
            throw new CheckpointMismatchException(owner, $"the checkpoint has {entry.LastLrs.Count} parameter group(s), the scheduler has {groups}");
        foreach (var field in ExtraFields(scheduler))
        {
            if (!entry.Extra.ContainsKey(field.Name))
                throw new CheckpointMismatchException(owner, $"field '{field.Name}' is missing");
        }
        var inner = Inner(scheduler);
        if (inner.Count != (entry.Inner?.Count ?? 0))
            throw new CheckpointMismatchException(owner, $"the checkpoint holds {entry.Inner?.Count ?? 0} wrapped scheduler(s), the registered one wraps {inner.Count}");
        for (int i = 0; i < inner.Count; i++) Check(inner[i], entry.Inner![i]);
    }

    public static void Restore(LRScheduler scheduler, SchedulerEntry entry)
    {
        LastEpoch!.SetValue(scheduler, entry.LastEpoch);
        StepCount!.SetValue(scheduler, entry.StepCount);
        // In place: SequentialLR shares its first scheduler's list of last learning rates.
        if (LastLrs!.GetValue(scheduler) is IList<double> last && BaseLrs!.GetValue(scheduler) is IList<double> bases)
        {
            for (int i = 0; i < last.Count; i++)
            {
                last[i] = entry.LastLrs[i];
                bases[i] = entry.BaseLrs[i];
            }
        }
        var inner = Inner(scheduler);
        for (int i = 0; i < inner.Count; i++) Restore(inner[i], entry.Inner![i]);
        foreach (var field in ExtraFields(scheduler))
        {
            var value = entry.Extra[field.Name];
            field.SetValue(scheduler, field.FieldType == typeof(int) ? (object)checked((int)value) : value);
        }
    }

    private static IEnumerable<FieldInfo> ExtraFields(LRScheduler scheduler)
    {
        if (scheduler.GetType().Name != "ReduceLROnPlateau") yield break;
        foreach (var name in PlateauFields)
        {
            var field = scheduler.GetType().GetField(name, Instance);
            if (field is not null && (field.FieldType == typeof(int) || field.FieldType == typeof(double))) yield return field;
        }
    }
}
