using System.Globalization;

namespace SpotCheckpoint.Scheduling.Simulation;

/// <summary>
/// Reads a trace of interruption times for <see cref="SimulationOptions.Trace"/>: CSV whose first column is the time
/// of an interruption in seconds from the start of the job. Empty lines and lines starting with <c>#</c> are
/// skipped, a first line that is not a number is taken as a header, and further columns are ignored.
/// </summary>
public static class InterruptionTrace
{
    /// <summary>Parses a trace; the times come back sorted. Throws <see cref="FormatException"/> naming the bad line.</summary>
    public static IReadOnlyList<double> Parse(TextReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var times = new List<double>();
        int lineNumber = 0;
        bool first = true;
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            lineNumber++;
            var text = line.Trim();
            if (text.Length == 0 || text[0] == '#') continue;
            int comma = text.IndexOf(',', StringComparison.Ordinal);
            var field = (comma < 0 ? text : text[..comma]).Trim().Trim('"');
            if (!double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
            {
                if (first) { first = false; continue; }
                throw new FormatException($"Line {lineNumber} of the trace does not start with a number of seconds: '{field}'.");
            }
            first = false;
            if (!(seconds >= 0) || double.IsInfinity(seconds))
                throw new FormatException($"Line {lineNumber} of the trace has a negative or non-finite time: {field}.");
            times.Add(seconds);
        }
        times.Sort();
        return times;
    }

    /// <summary>Reads a trace file (see <see cref="Parse"/>).</summary>
    public static IReadOnlyList<double> Load(string path)
    {
        using var reader = new StreamReader(path);
        return Parse(reader);
    }
}
