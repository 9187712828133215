using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Text.Json;
using System.Xml.Linq;

namespace SpotCheckpoint.Packaging.Tests;

/// <summary>
/// Packs every project under src/ (the way <c>dotnet pack -c Release -o DIR</c> does, into a private feed folder and
/// with a version no other feed has), checks what each package carries, then builds and runs a consumer project
/// that gets the packages from that folder only, and installs and runs the spotckpt tool from it. The build output
/// goes to a temporary artifacts folder, so the repository's own bin/ and obj/ are never touched. Restores use the
/// normal NuGet cache; the packages of this version are removed from it afterwards.
/// </summary>
[TestFixture, NonParallelizable, Category("Packaging")]
public sealed class PackAndConsumeTests
{
    private static readonly TimeSpan Slow = TimeSpan.FromMinutes(15);
    private string _root = null!;
    private string _work = null!;
    private string _feed = null!;
    private string _version = null!;
    private List<string> _projects = null!;

    [OneTimeSetUp]
    public async Task PackEverything()
    {
        _root = typeof(PackAndConsumeTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!;
        _work = Path.Combine(Path.GetTempPath(), "spotckpt-pack-tests", Guid.NewGuid().ToString("N"));
        _feed = Path.Combine(_work, "feed");
        Directory.CreateDirectory(_feed);
        _version = "0.0.0-packtest." + DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + "." + Random.Shared.Next(1000, 9999).ToString(CultureInfo.InvariantCulture);

        // Every project under src/ is a package (provider packages join by being there).
        _projects = Directory.EnumerateFiles(Path.Combine(_root, "src"), "*.csproj", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        var solution = Path.Combine(_work, "packages.slnx");
        await File.WriteAllTextAsync(solution, new XElement("Solution",
            _projects.Select(p => new XElement("Project", new XAttribute("Path", Path.GetRelativePath(_work, p))))).ToString());

        await DotnetProcess.RunAsync(DotnetProcess.Dotnet,
            $"pack \"{solution}\" -c Release -o \"{_feed}\" -p:Version={_version} -p:UseArtifactsOutput=true -p:ArtifactsPath=\"{Path.Combine(_work, "artifacts")}\" -nodeReuse:false --disable-build-servers",
            _work, Slow);
    }

    [OneTimeTearDown]
    public void CleanUp()
    {
        // Only the packages of this test's version leave the NuGet cache.
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var id in PackageIds())
        {
            var folder = Path.Combine(cache, id.ToLowerInvariant(), _version);
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
        try { Directory.Delete(_work, recursive: true); }
        catch (IOException) { }
    }

    private IEnumerable<string> PackageIds() => _projects.Select(p => Path.GetFileNameWithoutExtension(p));

    private string Package(string id, string extension = "nupkg") => Path.Combine(_feed, $"{id}.{_version}.{extension}");

    private static XElement Nuspec(ZipArchive package)
    {
        var entry = package.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal) && !e.FullName.Contains('/'));
        using var stream = entry.Open();
        return XElement.Load(stream);
    }

    private static IEnumerable<string> Dependencies(XElement nuspec) =>
        nuspec.Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => e.Attribute("id")!.Value).Distinct();

    [Test]
    public void Every_project_under_src_becomes_a_package_with_symbols_and_nothing_else_does()
    {
        var expected = PackageIds().Select(id => Path.GetFileName(Package(id))).Concat(PackageIds().Select(id => Path.GetFileName(Package(id, "snupkg"))));
        Assert.That(Directory.EnumerateFiles(_feed).Select(Path.GetFileName), Is.EquivalentTo(expected));
    }

    [Test]
    public void Every_package_carries_a_readme_the_license_and_the_repository()
    {
        foreach (var id in PackageIds())
        {
            using var package = ZipFile.OpenRead(Package(id));
            var nuspec = Nuspec(package);
            string? Meta(string name) => nuspec.Descendants().FirstOrDefault(e => e.Name.LocalName == name)?.Value;
            Assert.Multiple(() =>
            {
                Assert.That(Meta("readme"), Is.EqualTo("README.md"), id);
                Assert.That(package.GetEntry("README.md"), Is.Not.Null, id);
                Assert.That(Meta("license"), Is.EqualTo("MIT"), id);
                Assert.That(Meta("description"), Is.Not.Empty, id);
                Assert.That(nuspec.Descendants().Single(e => e.Name.LocalName == "repository").Attribute("url")?.Value, Does.StartWith("https://"), id);
            });
            using var symbols = ZipFile.OpenRead(Package(id, "snupkg"));
            Assert.That(symbols.Entries.Any(e => e.FullName.EndsWith($"/{id}.pdb", StringComparison.Ordinal)), Is.True, $"{id}.snupkg holds {id}.pdb");
        }
    }

    [Test]
    public void Libraries_ship_for_net8_and_net10_with_xml_docs()
    {
        foreach (var id in PackageIds().Where(id => id != "SpotCheckpoint.Cli"))
        {
            using var package = ZipFile.OpenRead(Package(id));
            foreach (var tfm in new[] { "net8.0", "net10.0" })
            {
                Assert.That(package.GetEntry($"lib/{tfm}/{id}.dll"), Is.Not.Null, $"{id} {tfm}");
                Assert.That(package.GetEntry($"lib/{tfm}/{id}.xml"), Is.Not.Null, $"{id} {tfm} XML docs");
            }
        }
    }

    [Test]
    public void The_core_pulls_no_cloud_sdk_and_the_packages_built_on_it_keep_its_load_fix()
    {
        using (var core = ZipFile.OpenRead(Package("SpotCheckpoint")))
        {
            Assert.That(Dependencies(Nuspec(core)), Is.EquivalentTo(new[] { "TorchSharp", "System.IO.Hashing", "Microsoft.Extensions.Logging.Abstractions" }));
            Assert.That(core.GetEntry("buildTransitive/SpotCheckpoint.targets"), Is.Not.Null);
        }
        foreach (var id in PackageIds().Where(id => id is not "SpotCheckpoint" and not "SpotCheckpoint.Cli"))
        {
            using var package = ZipFile.OpenRead(Package(id));
            var onCore = Nuspec(package).Descendants().Where(e => e.Name.LocalName == "dependency" && e.Attribute("id")?.Value == "SpotCheckpoint").ToList();
            Assert.That(onCore, Is.Not.Empty, id);
            Assert.That(onCore.Select(e => e.Attribute("version")!.Value), Is.All.EqualTo(_version), id);
            Assert.That(onCore.Select(e => e.Attribute("exclude")?.Value ?? ""), Is.All.Not.Contains("Build"), $"{id} must pass the core's build assets on");
        }
    }

    [Test]
    public void The_cli_is_a_dotnet_tool_named_spotckpt()
    {
        using var package = ZipFile.OpenRead(Package("SpotCheckpoint.Cli"));
        Assert.That(Nuspec(package).Descendants().Single(e => e.Name.LocalName == "packageType").Attribute("name")!.Value, Is.EqualTo("DotnetTool"));
        var settings = package.Entries.Single(e => e.FullName.EndsWith("/DotnetToolSettings.xml", StringComparison.Ordinal));
        using var stream = settings.Open();
        Assert.That(XElement.Load(stream).Descendants().Single(e => e.Name.LocalName == "Command").Attribute("Name")!.Value, Is.EqualTo("spotckpt"));
    }

    [Test]
    public async Task A_consumer_using_the_packages_from_the_folder_checkpoints_resumes_and_the_tool_lists_it()
    {
        var consumer = Path.Combine(_work, "consumer");
        Directory.CreateDirectory(consumer);
        // The local folder comes on top of the default source; only it has this version.
        await File.WriteAllTextAsync(Path.Combine(consumer, "nuget.config"), new XElement("configuration",
            new XElement("packageSources", new XElement("add", new XAttribute("key", "spotcheckpoint-packtest"), new XAttribute("value", _feed))))
            .ToString());
        // The libraries built on the core are referenced directly; the core comes with them, as for a real user.
        var references = PackageIds().Where(id => id is not "SpotCheckpoint" and not "SpotCheckpoint.Cli")
            .Select(id => new XElement("PackageReference", new XAttribute("Include", id), new XAttribute("Version", _version)))
            .Append(new XElement("PackageReference", new XAttribute("Include", "TorchSharp-cpu"), new XAttribute("Version", "0.107.0")))
            .Append(new XElement("PackageReference", new XAttribute("Include", "Microsoft.Extensions.Hosting"), new XAttribute("Version", "10.0.0")));
        await File.WriteAllTextAsync(Path.Combine(consumer, "Consumer.csproj"), new XElement("Project", new XAttribute("Sdk", "Microsoft.NET.Sdk"),
            new XElement("PropertyGroup",
                new XElement("OutputType", "Exe"), new XElement("TargetFramework", "net10.0"), new XElement("Nullable", "enable"),
                new XElement("ImplicitUsings", "enable")),
            new XElement("ItemGroup", references)).ToString());
        await File.WriteAllTextAsync(Path.Combine(consumer, "Program.cs"), ConsumerProgram);

        await DotnetProcess.RunAsync(DotnetProcess.Dotnet, "build -c Release -nodeReuse:false --disable-build-servers", consumer, Slow);
        var checkpoints = Path.Combine(_work, "checkpoints");
        var run = await DotnetProcess.RunAsync(DotnetProcess.Dotnet, $"bin/Release/net10.0/Consumer.dll \"{checkpoints}\"", consumer, TimeSpan.FromMinutes(3));
        Assert.That(run, Does.Contain("resumed step 10 with the same state"));

        var tools = Path.Combine(_work, "tools");
        await DotnetProcess.RunAsync(DotnetProcess.Dotnet,
            $"tool install SpotCheckpoint.Cli --version {_version} --tool-path \"{tools}\" --add-source \"{_feed}\"", _work, TimeSpan.FromMinutes(5));
        var listed = await DotnetProcess.RunAsync(Path.Combine(tools, "spotckpt"), $"ls \"{Path.Combine(checkpoints, "consumer")}\" --json", _work, TimeSpan.FromMinutes(2));
        using var json = JsonDocument.Parse(listed);
        Assert.That(json.RootElement.GetProperty("checkpoints").EnumerateArray().Select(e => (e.GetProperty("step").GetInt64(), e.GetProperty("state").GetString())),
            Is.EqualTo(new[] { (10L, "ok"), (5L, "ok") }));
        await DotnetProcess.RunAsync(Path.Combine(tools, "spotckpt"), $"verify \"{Path.Combine(checkpoints, "consumer")}\" --all", _work, TimeSpan.FromMinutes(2));
    }

    [Test]
    public void Every_csharp_block_of_the_readme_and_the_docs_says_whether_it_runs()
    {
        var snippets = DocSnippets.Read(_root);
        Assert.That(snippets.Where(s => s.Kind == "unmarked").Select(s => $"{s.File}:{s.Line}"), Is.Empty,
            "mark each C# block with <!-- snippet: runnable; exit N; prints \"…\" -->, <!-- snippet: compiles --> or <!-- snippet: fragment --> (see DocSnippets.cs)");
        // The quick start is shown in both places as a program that runs as it stands.
        Assert.That(snippets.Where(s => s.Kind == "runnable").Select(s => s.File), Is.SupersetOf(QuickStartFiles));
    }

    /// <summary>
    /// Each runnable block is run in an empty folder: it must exit and print as its marker says. The quick start
    /// also logs each commit through the console logger, and a second run in the same folder must resume it.
    /// </summary>
    [Test]
    public async Task Every_runnable_block_of_the_readme_and_the_docs_builds_against_the_packages_and_runs()
    {
        var build = await BuildSnippetsAsync();
        var runnable = DocSnippets.Read(_root).Where(s => s.Kind == "runnable").GroupBy(s => s.Code).ToList();
        Assert.That(runnable, Is.Not.Empty);
        foreach (var group in runnable)
        {
            var snippet = group.First();
            var where = string.Join(", ", group.Select(s => $"{s.File}:{s.Line}"));
            var dll = build.Dll(snippet.Code);
            Assert.That(File.Exists(dll), Is.True, $"{where} does not build:\n{build.Errors(snippet.Code)}");
            var runFolder = Path.Combine(build.Projects[snippet.Code], "run");
            Directory.CreateDirectory(runFolder);
            var first = await DotnetProcess.RunCapturedAsync(DotnetProcess.Dotnet, $"\"{dll}\"", runFolder, TimeSpan.FromMinutes(3));
            Assert.That(first.ExitCode, Is.EqualTo(snippet.ExpectedExit), $"{where}:\n{DotnetProcess.Tail(first.Both)}");
            foreach (var text in snippet.ExpectedOutput) Assert.That(first.StdOut, Does.Contain(text), where);
            if (!group.Any(s => QuickStartFiles.Contains(s.File))) continue;

            Assert.That(first.StdOut, Does.Contain("committed"), $"{where}: the console logger shows each commit");
            var again = await DotnetProcess.RunCapturedAsync(DotnetProcess.Dotnet, $"\"{dll}\"", runFolder, TimeSpan.FromMinutes(3));
            Assert.That(again.ExitCode, Is.EqualTo(snippet.ExpectedExit), $"{where} (again):\n{DotnetProcess.Tail(again.Both)}");
            Assert.That(again.StdOut, Does.Contain("Resumed run"), where);
        }
    }

    [Test]
    public async Task Every_compiles_block_of_the_docs_builds_against_the_packages()
    {
        var build = await BuildSnippetsAsync();
        var compiles = DocSnippets.Read(_root).Where(s => s.Kind == "compiles").ToList();
        Assert.That(compiles, Is.Not.Empty);
        Assert.That(compiles.Where(s => !File.Exists(build.Dll(s.Code))).Select(s => $"{s.File}:{s.Line} does not build:\n{build.Errors(s.Code)}"), Is.Empty);
    }

    private static readonly string[] QuickStartFiles = ["README.md", "docs/getting-started.md"];

    private Task<SnippetBuild>? _snippetBuild;

    /// <summary>The projects of the doc programs, by their code, and the output of the build that made them.</summary>
    private sealed record SnippetBuild(IReadOnlyDictionary<string, string> Projects, string Output)
    {
        public string Dll(string code) => Path.Combine(Projects[code], "bin", "Release", "net10.0", Path.GetFileName(Projects[code]) + ".dll");

        /// <summary>The build's error lines about this program's project, or the whole output's tail when none names it.</summary>
        public string Errors(string code)
        {
            var name = Path.DirectorySeparatorChar + Path.GetFileName(Projects[code]) + Path.DirectorySeparatorChar;
            var errors = Output.Split('\n').Where(l => l.Contains(name, StringComparison.Ordinal) && l.Contains(": error ", StringComparison.Ordinal)).Distinct().ToList();
            return errors.Count > 0 ? string.Join('\n', errors) : DotnetProcess.Tail(Output);
        }
    }

    /// <summary>
    /// Builds every runnable and compiles block (identical blocks once) as Program.cs of its own console project, named
    /// after where the block is. A runnable one references the packed SpotCheckpoint, TorchSharp-cpu and the console
    /// logger (what the README says to add); a compiles one every library package and Microsoft.Extensions.Hosting,
    /// for hosts and cloud stores, and no native LibTorch, since it never runs. All of them are built by one
    /// <c>dotnet build</c> of one solution, which restores once and compiles the projects in parallel, where a build
    /// per project would cost 15-30 s each. The first test that needs the build starts it; the other awaits it.
    /// </summary>
    private Task<SnippetBuild> BuildSnippetsAsync() => _snippetBuild ??= BuildAllSnippetsAsync();

    private async Task<SnippetBuild> BuildAllSnippetsAsync()
    {
        var folder = Path.Combine(_work, "snippets");
        Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(Path.Combine(folder, "nuget.config"), new XElement("configuration",
            new XElement("packageSources", new XElement("add", new XAttribute("key", "spotcheckpoint-packtest"), new XAttribute("value", _feed))))
            .ToString());
        var runnableReferences = new[] { ("SpotCheckpoint", _version), ("TorchSharp-cpu", "0.107.0"), ("Microsoft.Extensions.Logging.Console", "10.0.0") };
        var compilesReferences = PackageIds().Where(id => id != "SpotCheckpoint.Cli").Select(id => (id, _version))
            .Append(("Microsoft.Extensions.Hosting", "10.0.0")).ToArray();

        var projects = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var group in DocSnippets.Read(_root).Where(s => s.Kind is "runnable" or "compiles").GroupBy(s => s.Code))
        {
            var snippet = group.First();
            var name = new string($"{snippet.File}_{snippet.Line}".Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray());
            var project = Path.Combine(folder, name);
            Directory.CreateDirectory(project);
            var references = snippet.Kind == "runnable" ? runnableReferences : compilesReferences;
            // NU1603 as in Directory.Build.props: the local package cache may hold only newer versions of the cloud
            // SDKs' dependencies than they name, which says nothing about the code. Hard links instead of copies of
            // LibTorch's ~1 GB of native libraries for every OS, per runnable project.
            await File.WriteAllTextAsync(Path.Combine(project, name + ".csproj"), new XElement("Project", new XAttribute("Sdk", "Microsoft.NET.Sdk"),
                new XElement("PropertyGroup",
                    new XElement("OutputType", "Exe"), new XElement("TargetFramework", "net10.0"), new XElement("Nullable", "enable"),
                    new XElement("ImplicitUsings", "enable"), new XElement("TreatWarningsAsErrors", "true"), new XElement("WarningsNotAsErrors", "NU1603"),
                    new XElement("CreateHardLinksForCopyLocalIfPossible", "true")),
                new XElement("ItemGroup", references.Select(r =>
                    new XElement("PackageReference", new XAttribute("Include", r.Item1), new XAttribute("Version", r.Item2))))).ToString());
            await File.WriteAllTextAsync(Path.Combine(project, "Program.cs"), snippet.Code);
            projects[snippet.Code] = project;
        }
        var solution = Path.Combine(folder, "snippets.slnx");
        await File.WriteAllTextAsync(solution, new XElement("Solution",
            projects.Values.Select(p => new XElement("Project", new XAttribute("Path", Path.GetRelativePath(folder, Path.Combine(p, Path.GetFileName(p) + ".csproj")))))).ToString());

        // Its exit code is not checked here: each test looks for its own programs, so a block that does not compile
        // fails only the test of its kind, with its errors.
        var build = await DotnetProcess.RunCapturedAsync(DotnetProcess.Dotnet, $"build \"{solution}\" -c Release -nodeReuse:false --disable-build-servers", folder, Slow);
        return new SnippetBuild(projects, build.Both);
    }

    /// <summary>
    /// docs/cli.md's scripts use the installed tool; through <c>dotnet run</c> a build's warnings would land on
    /// stdout first. The repository builds with no warning (SourceLink only with a git remote, the S3 SDK's
    /// System.IO.Hashing warning handled), so even that prints only the JSON document. Built into a temporary
    /// artifacts folder, as the pack is.
    /// </summary>
    [Test]
    public async Task Dotnet_run_of_the_cli_with_json_prints_only_json_on_stdout()
    {
        var checkpoints = Path.Combine(_work, "json-run");
        Directory.CreateDirectory(Path.Combine(checkpoints, "demo")); // a run with no checkpoint yet: ls reports it, nothing to train
        var result = await DotnetProcess.RunCapturedAsync(DotnetProcess.Dotnet,
            $"run --project \"{Path.Combine(_root, "src", "SpotCheckpoint.Cli")}\" -c Release -p:UseArtifactsOutput=true -p:ArtifactsPath=\"{Path.Combine(_work, "run-artifacts")}\" " +
            $"-- ls \"{Path.Combine(checkpoints, "demo")}\" --json",
            _work, Slow, new Dictionary<string, string> { ["MSBUILDDISABLENODEREUSE"] = "1" }); // dotnet run hands -nodeReuse to the program
        Assert.That(result.ExitCode, Is.Zero, DotnetProcess.Tail(result.Both));
        using var json = JsonDocument.Parse(result.StdOut);
        Assert.That(json.RootElement.GetProperty("checkpoints").GetArrayLength(), Is.Zero, result.StdOut);
    }

    private const string ConsumerProgram = """
        using Microsoft.Extensions.DependencyInjection;
        using Microsoft.Extensions.Hosting;
        using SpotCheckpoint;
        using SpotCheckpoint.Scheduling;
        using TorchSharp;
        using static TorchSharp.torch;

        var directory = args[0];
        random.manual_seed(1);
        string trained;
        using (var model = nn.Linear(4, 2))
        using (var optimizer = optim.Adam(model.parameters(), lr: 0.01))
        {
            await using var checkpointer = Checkpointer.Create(directory, o => { o.RunId = "consumer"; o.Policy = CheckpointPolicy.EverySteps(5); })
                .AddModule("model", model).AddOptimizer("optimizer", optimizer);
            await checkpointer.ResumeAsync();
            for (long step = 1; step <= 10; step++)
            {
                using (NewDisposeScope())
                {
                    optimizer.zero_grad();
                    model.forward(randn(8, 4)).sum().backward();
                    optimizer.step();
                }
                checkpointer.Step(step);
            }
            await checkpointer.FlushAsync();
            trained = checkpointer.ComputeStateSha256();
        }

        // The same run, resumed through the hosting package.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSpotCheckpoint(o => { o.Location = directory; o.RunId = "consumer"; });
        using var host = builder.Build();
        await host.StartAsync();
        using var model2 = nn.Linear(4, 2);
        using var optimizer2 = optim.Adam(model2.parameters(), lr: 0.01);
        var resumed = host.Services.GetRequiredService<Checkpointer>().AddModule("model", model2).AddOptimizer("optimizer", optimizer2);
        var result = await resumed.ResumeAsync();
        bool same = resumed.ComputeStateSha256() == trained;
        await host.StopAsync();
        Console.WriteLine($"resumed step {result.Step} with {(same ? "the same" : "a different")} state");
        return same && result.Step == 10 ? 0 : 1;
        """;
}
