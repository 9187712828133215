using System.Text.RegularExpressions;

namespace SpotCheckpoint.Packaging.Tests;

/// <summary>
/// The C# blocks of README.md and docs/getting-started.md. Each carries a marker, an HTML comment on the line before
/// its fence, that says what it is:
/// <list type="bullet">
/// <item><c>&lt;!-- snippet: runnable; exit N; prints "TEXT" --&gt;</c>: a complete program, built against the packed
/// packages and run; it must exit with N and print TEXT (the <c>prints</c> part may repeat).</item>
/// <item><c>&lt;!-- snippet: fragment … --&gt;</c>: a part of such a program, shown to explain it; not built.</item>
/// </list>
/// A block without a marker fails the test, so nothing a reader may paste goes unchecked by accident.
/// </summary>
internal static partial class DocSnippets
{
    /// <summary>The files whose C# blocks are checked, relative to the repository root.</summary>
    public static readonly string[] Files = ["README.md", "docs/getting-started.md"];

    public sealed record Snippet(string File, int Line, string Kind, string Code, int ExpectedExit, IReadOnlyList<string> ExpectedOutput);

    public static IReadOnlyList<Snippet> Read(string root)
    {
        var snippets = new List<Snippet>();
        foreach (var file in Files)
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

    [GeneratedRegex(@"^\s*<!--\s*snippet:\s*(?<kind>runnable|fragment)\b(?<details>.*?)-->\s*$")]
    private static partial Regex Marker();

    [GeneratedRegex(@"\bexit\s+(\d+)")]
    private static partial Regex Exit();

    [GeneratedRegex(@"\bprints\s+""([^""]*)""")]
    private static partial Regex Prints();
}
