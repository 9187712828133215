using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SpotCheckpoint.Testing;

namespace SpotCheckpoint.Storage.Tests.Emulators;

/// <summary>
/// tests/emulators/start.sh stops with one clear line and a non-zero exit when an emulator cannot run, so that the
/// object-store tests are never skipped silently. Each case runs a copy of the script in a temporary folder (its own
/// .state, its own ports), so the emulators the suite uses are never touched.
/// </summary>
[NonParallelizable]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // bash scripts
public sealed class StartScriptTests
{
    private string _copy = "";

    [SetUp]
    public void CopyScript()
    {
        _copy = Path.Combine(Path.GetTempPath(), "spotckpt-start-sh", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(_copy, "bin"));
        foreach (var file in new[] { "start.sh", "stop.sh", "package-lock.json", "s3rver.js", "gcs.js" })
            File.Copy(Path.Combine(EmulatorEndpoints.Directory, file), Path.Combine(_copy, file));
    }

    [TearDown]
    public void RemoveCopy()
    {
        Run(Path.Combine(_copy, "stop.sh"), new Dictionary<string, string>()); // in case a case started something after all
        try { Directory.Delete(_copy, recursive: true); } catch (IOException) { }
    }

    [Test]
    public void Node_missing_is_one_clear_line()
    {
        // A PATH with only what the script needs before its Node check: no node, no npm.
        foreach (var tool in new[] { "dirname", "mkdir", "flock" }) Link(tool);
        var (code, stderr) = Run(Path.Combine(_copy, "start.sh"), FreePorts(new() { ["PATH"] = Path.Combine(_copy, "bin") }));
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr.Trim(), Is.EqualTo("emulators: Node.js is missing (need Node >= 20 on PATH)"));
    }

    [Test]
    public void Node_too_old_is_one_clear_line()
    {
        Fake("node", "echo v16.20.2");
        var (code, stderr) = Run(Path.Combine(_copy, "start.sh"), FreePorts(new() { ["PATH"] = Path.Combine(_copy, "bin") + ":" + Environment.GetEnvironmentVariable("PATH") }));
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr.Trim(), Is.EqualTo("emulators: Node.js v16.20.2 is too old (need Node >= 20)"));
    }

    [Test]
    public void A_failed_install_is_one_clear_line()
    {
        Fake("node", "echo v20.11.0");
        Fake("npm", "echo 'npm error network request to the registry failed' >&2; exit 1");
        var (code, stderr) = Run(Path.Combine(_copy, "start.sh"), FreePorts(new() { ["PATH"] = Path.Combine(_copy, "bin") + ":" + Environment.GetEnvironmentVariable("PATH") }));
        Assert.That(code, Is.EqualTo(1));
        var last = stderr.Trim().Split('\n')[^1];
        Assert.That(last, Does.StartWith("emulators: npm ci failed").And.EndWith("npm error network request to the registry failed"));
    }

    [Test]
    public async Task A_port_taken_by_another_program_is_one_clear_line_and_starts_nothing()
    {
        // Something that answers HTTP on the Azurite port, but is not Azurite.
        using var other = new TcpListener(IPAddress.Loopback, 0);
        other.Start();
        int port = ((IPEndPoint)other.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        var answering = AnswerAsync(other, stop.Token);
        // The installed packages of the real folder, so that the script gets as far as the ports.
        File.CreateSymbolicLink(Path.Combine(_copy, "node_modules"), Path.Combine(EmulatorEndpoints.Directory, "node_modules"));
        var environment = FreePorts(new() { ["SPOTCKPT_AZURITE_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var (code, stderr) = Run(Path.Combine(_copy, "start.sh"), environment);
        await stop.CancelAsync();
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr.Trim(), Is.EqualTo($"emulators: port {port} is taken by a program that is not azurite; free it or set SPOTCKPT_AZURITE_PORT to another port"));
        Assert.That(Directory.EnumerateFiles(Path.Combine(_copy, ".state"), "*.pid"), Is.Empty, "no emulator was started");
        Assert.That(File.Exists(Path.Combine(_copy, ".state", "endpoints.env")), Is.False, "no endpoints written for the wrong program");
    }

    private static async Task AnswerAsync(TcpListener listener, CancellationToken cancellationToken)
    {
        var answer = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
        try
        {
            while (true)
            {
                using var client = await listener.AcceptTcpClientAsync(cancellationToken);
                var stream = client.GetStream();
                var buffer = new byte[4096];
                _ = await stream.ReadAsync(buffer, cancellationToken);
                await stream.WriteAsync(answer, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException)
        {
            // stopped
        }
    }

    /// <summary>Points every port the script uses at a free one, so that nothing can reach the suite's emulators.</summary>
    private static Dictionary<string, string> FreePorts(Dictionary<string, string> environment)
    {
        foreach (var name in new[] { "SPOTCKPT_AZURITE_PORT", "SPOTCKPT_S3_PORT", "SPOTCKPT_GCS_PORT" })
        {
            if (environment.ContainsKey(name)) continue;
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            environment[name] = ((IPEndPoint)probe.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return environment;
    }

    private void Link(string tool)
    {
        var which = new[] { "/usr/bin", "/bin", "/usr/local/bin" }.Select(d => Path.Combine(d, tool)).First(File.Exists);
        File.CreateSymbolicLink(Path.Combine(_copy, "bin", tool), which);
    }

    private void Fake(string tool, string body)
    {
        var path = Path.Combine(_copy, "bin", tool);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private static (int ExitCode, string StdErr) Run(string script, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("/bin/bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(script);
        foreach (var (name, value) in environment) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{script} did not finish in 2 minutes");
        }
        return (process.ExitCode, stderr.Result);
    }
}
