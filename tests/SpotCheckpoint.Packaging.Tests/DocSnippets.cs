using System.Text.RegularExpressions;

namespace SpotCheckpoint.Packaging.Tests;

/// <summary>
/// The C# blocks of README.md and of every page directly in docs/. Each carries a marker, an HTML comment on the line
/// before its fence, that says what it is:
/// <list type="bullet">
/// <item><c>&lt;!-- snippet: runnable; exit N; prints "TEXT" --&gt;</c>: a complete program, built against the packed
/// packages and run in an empty folder; it must exit with N and print TEXT (the <c>prints</c> part may repeat).</item>
/// <item><c>&lt;!-- snippet: compiles --&gt;</c>: a complete program, built against the packed packages like a runnable
/// one but not run: for programs that need a cloud, a host that runs until stopped, or checkpoints that already
/// exist.</item>
/// <item><c>&lt;!-- snippet: fragment … --&gt;</c>: a part of a program, shown to explain it; not built. Say after the
/// word where the whole is checked when it is, e.g. <c>fragment (part of the program above)</c>.</item>
/// </list>
/// A block without a marker fails the test, so nothing a reader may paste goes unchecked by accident.
/// </summary>
internal static partial class DocSnippets
{
    /// <summary>
    /// The files whose C# blocks are checked, relative to the repository root: README.md, then every docs/*.md in
    /// ordinal order, so a new page is covered without being listed here.
    /// </summary>
    public static IReadOnlyList<string> Files(string root) =>
        Directory.EnumerateFiles(Path.Combine(root, "docs"), "*.md")
            .Select(path => "docs/" + Path.GetFileName(path))
            .Order(StringComparer.Ordinal)
            .Prepend("README.md")
            .ToList();

    public sealed record Snippet(string File, int Line, string Kind, string Code, int ExpectedExit, IReadOnlyList<string> ExpectedOutput);

    public static IReadOnlyList<Snippet> Read(string root)
    {
        var snippets = new List<Snippet>();
        foreach (var file in Files(root))
        {
            var lines = File.ReadAllLines(Path.Combine(root, file));
            for (int i = 0; i < lines.Length; i++)
            {
                if (lines[i].Trim() != "```csharp") continue;
                int end = Array.FindIndex(lines, i + 1, l => l.Trim() == "```");
                if (end < 0) throw new FormatException($"{file}:{i + 1}: the C# block does not end");
                var code = string.Join('\n', lines[(i + 1)..end]) + "\n";
                var marker = i > 0 ? Marker().Match(lines[i - 1]) : Match.Empty;
                if (!marker.Success)
                {
                    snippets.Add(new Snippet(file, i + 1, "unmarked", code, 0, []));
                }
                else
                {
                    var details = marker.Groups["details"].Value;
                    var exit = Exit().Match(details);
                    snippets.Add(new Snippet(file, i + 1, marker.Groups["kind"].Value, code,
                        exit.Success ? int.Parse(exit.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0,
                        Prints().Matches(details).Select(m => m.Groups[1].Value).ToList()));
                }
                i = end;
            }
        }
        return snippets;
    }

    [GeneratedRegex(@"^\s*<!--\s*snippet:\s*(?<kind>runnable|compiles|fragment)\b(?<details>.*?)-->\s*$")]
    private static partial Regex Marker();

    [GeneratedRegex(@"\bexit\s+(\d+)")]
    private static partial Regex Exit();

    [GeneratedRegex(@"\bprints\s+""([^""]*)""")]
    private static partial Regex Prints();
}
