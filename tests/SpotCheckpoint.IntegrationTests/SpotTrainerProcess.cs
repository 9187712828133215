using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace SpotCheckpoint.IntegrationTests;

/// <summary>Runs the sample trainer as a child process, as a user would.</summary>
internal static class SpotTrainerProcess
{
    public static string DllPath { get; } = Path.GetFullPath(
        typeof(SpotTrainerProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "SpotTrainerPath").Value!);

    public sealed record Outcome(int ExitCode, string StdOut, string StdErr, TrainerSummary? Summary);

    public sealed record TrainerSummary(
        long FinalStep,
        string FinalStateSha256,
        long? ResumedFromStep,
        long CheckpointsCommitted,
        bool Preempted,
        string? NoticeProvider,
        double? NoticeToCommitMs,
        long BytesWritten = 0,
        long BytesReused = 0);

    public static Task<Outcome> RunAsync(string workDir, params string[] args) => RunAsync(workDir, killAfter: null, args);

    /// <summary>Runs the trainer; with <paramref name="killAfter"/> it is killed (SIGKILL) after that long.</summary>
    public static async Task<Outcome> RunAsync(string workDir, TimeSpan? killAfter, params string[] args)
    {
        await using var running = Start(workDir, null, args);
        return killAfter is null ? await running.WaitAsync() : await running.WaitOrKillAsync(killAfter.Value);
    }

    /// <summary>Starts the trainer; <paramref name="environment"/> adds variables (the fake metadata endpoints).</summary>
    public static Running Start(string workDir, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var summaryPath = Path.Combine(workDir, $"summary-{Guid.NewGuid():N}.json");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        start.ArgumentList.Add(DllPath);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.ArgumentList.Add("--summary-json");
        start.ArgumentList.Add(summaryPath);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        return new Running(Process.Start(start)!, summaryPath, string.Join(' ', args));
    }

    /// <summary>A trainer that is running: its output so far, signals, and its outcome.</summary>
    public sealed class Running : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly string _summaryPath;
        private readonly string _description;
        private readonly StringBuilder _stdout = new();
        private readonly StringBuilder _stderr = new();
        private readonly Task[] _pumps;

        internal Running(Process process, string summaryPath, string description)
        {
            _process = process;
            _summaryPath = summaryPath;
            _description = description;
            _pumps = [Pump(process.StandardOutput, _stdout), Pump(process.StandardError, _stderr)];
        }

        private static Task Pump(StreamReader reader, StringBuilder into) => Task.Run(async () =>
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                lock (into) into.AppendLine(line);
            }
        });

        public string StdOut { get { lock (_stdout) return _stdout.ToString(); } }

        public int ProcessId => _process.Id;

        /// <summary>Whether the trainer has exited.</summary>
        public bool HasExited => _process.HasExited;

        /// <summary>Waits until standard output contains <paramref name="text"/>.</summary>
        public async Task WaitForOutputAsync(string text, double timeoutSeconds = 60)
        {
            var until = DateTime.UtcNow.AddSeconds(timeoutSeconds);
            while (!StdOut.Contains(text, StringComparison.Ordinal))
            {
                if (_process.HasExited) throw new InvalidOperationException($"SpotTrainer exited before printing '{text}':\n{StdOut}\n{_stderr}");
                if (DateTime.UtcNow > until) throw new TimeoutException($"SpotTrainer did not print '{text}':\n{StdOut}");
                await Task.Delay(20);
            }
        }

        /// <summary>Waits until the file at <paramref name="path"/> exists (a commit, for example: its manifest).</summary>
        public async Task WaitForFileAsync(string path, double timeoutSeconds = 60)
        {
            var until = DateTime.UtcNow.AddSeconds(timeoutSeconds);
            while (!File.Exists(path))
            {
                if (_process.HasExited) throw new InvalidOperationException($"SpotTrainer exited before {path} appeared:\n{StdOut}\n{_stderr}");
                if (DateTime.UtcNow > until) throw new TimeoutException($"{path} did not appear:\n{StdOut}");
                await Task.Delay(20);
            }
        }

        /// <summary>Sends a POSIX signal (SIGTERM = 15, SIGINT = 2).</summary>
        public void Signal(int signal)
        {
            if (kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }

        public async Task<Outcome> WaitAsync(double timeoutSeconds = 180)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                throw new TimeoutException($"SpotTrainer {_description} did not finish in {timeoutSeconds} s");
            }
            await Task.WhenAll(_pumps).WaitAsync(TimeSpan.FromSeconds(30)); // the rest of the output
            TrainerSummary? summary = null;
            if (File.Exists(_summaryPath))
            {
                summary = JsonSerializer.Deserialize<TrainerSummary>(await File.ReadAllTextAsync(_summaryPath),
                    new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase });
            }
            string stderr;
            lock (_stderr) stderr = _stderr.ToString();
            return new Outcome(_process.ExitCode, StdOut, stderr, summary);
        }

        /// <summary>Waits up to <paramref name="after"/>, then kills the process (SIGKILL: no handler runs, nothing is flushed).</summary>
        /// <returns>The outcome; exit code -9 when it was killed.</returns>
        public async Task<Outcome> WaitOrKillAsync(TimeSpan after)
        {
            using var timeout = new CancellationTokenSource(after);
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
                await Task.WhenAll(_pumps);
                string stderr;
                lock (_stderr) stderr = _stderr.ToString();
                return new Outcome(-9, StdOut, stderr, null);
            }
            return await WaitAsync();
        }

        public ValueTask DisposeAsync()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.Dispose();
            return ValueTask.CompletedTask;
        }

        [DllImport("libc", SetLastError = true)]
        private static extern int kill(int pid, int sig);
    }
}
