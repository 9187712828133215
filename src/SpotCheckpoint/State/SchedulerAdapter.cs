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
        var typeName = scheduler.GetType().Name;
        if (typeName is "SequentialLR" or "ChainedLR")
            throw new UnsupportedStateException(
                $"Scheduler '{name}' is a {typeName}, which wraps other schedulers; register those schedulers " +
                "individually or use a LambdaLR that composes them.");
    }

    public static SchedulerEntry Capture(LRScheduler scheduler, string name)
    {
        var entry = new SchedulerEntry
        {
            Name = name,
            Type = scheduler.GetType().Name,
            LastEpoch = (int)LastEpoch!.GetValue(scheduler)!,
            StepCount = (int)StepCount!.GetValue(scheduler)!,
            LastLrs = ((IList<double>)LastLrs!.GetValue(scheduler)!).ToList(),
            BaseLrs = ((IList<double>)BaseLrs!.GetValue(scheduler)!).ToList(),
        };
        foreach (var field in ExtraFields(scheduler))
            entry.Extra[field.Name] = Convert.ToDouble(field.GetValue(scheduler), System.Globalization.CultureInfo.InvariantCulture);
        return entry;
    }

    /// <summary>Checks that <paramref name="entry"/> fits <paramref name="scheduler"/> without changing it.</summary>
    public static void Check(LRScheduler scheduler, SchedulerEntry entry)
    {
        var owner = "scheduler/" + entry.Name;
        if (entry.Type != scheduler.GetType().Name)
            throw new CheckpointMismatchException(owner, $"the checkpoint holds a {entry.Type}, the registered scheduler is a {scheduler.GetType().Name}");
        var groups = ((IList<double>)BaseLrs!.GetValue(scheduler)!).Count;
        if (entry.LastLrs.Count != groups || entry.BaseLrs.Count != groups)
            throw new CheckpointMismatchException(owner, $"the checkpoint has {entry.LastLrs.Count} parameter group(s), the scheduler has {groups}");
        foreach (var field in ExtraFields(scheduler))
        {
            if (!entry.Extra.ContainsKey(field.Name))
                throw new CheckpointMismatchException(owner, $"field '{field.Name}' is missing");
        }
    }

    public static void Restore(LRScheduler scheduler, SchedulerEntry entry)
    {
        LastEpoch!.SetValue(scheduler, entry.LastEpoch);
        StepCount!.SetValue(scheduler, entry.StepCount);
        var last = (IList<double>)LastLrs!.GetValue(scheduler)!;
        var bases = (IList<double>)BaseLrs!.GetValue(scheduler)!;
        for (int i = 0; i < last.Count; i++)
        {
            last[i] = entry.LastLrs[i];
            bases[i] = entry.BaseLrs[i];
        }
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
