using System.Diagnostics;

namespace SpotCheckpoint.Diagnostics;

/// <summary>
/// Deterministic crash points for the crash-consistency tests. <c>SPOTCKPT_CRASH_AT=point</c> or <c>point:n</c> makes
/// the process kill itself (SIGKILL, no clean-up, as a preemption or an out-of-memory kill would) the n-th time
/// (1-based, default 1) the named point is reached. Unset in production: <see cref="Hit"/> is then one static read.
/// </summary>
internal static class CrashPoints
{
    /// <summary>After one shard (data object) has been written and completed; n counts shards over the process.</summary>
    public const string AfterShard = "after-shard";

    /// <summary>Every shard is written; the manifest (the commit) has not been started.</summary>
    public const string BeforeManifest = "before-manifest";

    /// <summary>The manifest is written (the checkpoint is committed); retention has not started.</summary>
    public const string AfterManifest = "after-manifest";

    /// <summary>Retention has deleted its first object and has more to delete.</summary>
    public const string MidRetention = "mid-retention";

    /// <summary>Every chunk pack of an incremental checkpoint is written and the reused ones checked; the manifest has not been started.</summary>
    public const string AfterChunks = "after-chunks";

    /// <summary>The chunk collector has deleted its first unreferenced pack and has more to consider.</summary>
    public const string MidGc = "mid-gc";

    private static readonly (string Point, int Count)? Target = Parse(Environment.GetEnvironmentVariable("SPOTCKPT_CRASH_AT"));
    private static int _hits;

    /// <summary>Kills the process when <paramref name="point"/> is the configured one and its count is reached.</summary>
    public static void Hit(string point)
    {
        if (Target is not { } target || target.Point != point) return;
        if (Interlocked.Increment(ref _hits) != target.Count) return;
        Console.Error.WriteLine($"crash point {point}:{target.Count} reached; killing the process");
        Console.Error.Flush();
        Process.GetCurrentProcess().Kill();
        Thread.Sleep(Timeout.Infinite); // the kill is asynchronous: never run past the point
    }

    private static (string, int)? Parse(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        var parts = value.Split(':', 2);
        int count = parts.Length == 2 && int.TryParse(parts[1], out var n) && n > 0 ? n : 1;
        return (parts[0].Trim(), count);
    }
}
