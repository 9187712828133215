using System.Globalization;
using System.Net;
using System.Text;

namespace SpotCheckpoint.Cli.Report;

/// <summary>
/// The page around the charts: one self-contained HTML file (inline CSS and SVG, nothing fetched). A short inline
/// script checks on load that every chart has a visible size and drawn content, and records the count on the
/// root element (<c>data-charts-drawn</c> of <c>data-charts</c>) for anyone checking the file in a browser.
/// </summary>
internal static class ReportHtml
{
    private const string Style = """
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:960px;color:#222;padding:0 1rem}
        h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
        .sub{color:#666;margin-top:0} table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0}
        th,td{border-bottom:1px solid #eee;padding:.3rem .5rem;text-align:right} th:first-child,td:first-child{text-align:left}
        .cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:.6rem;margin:1rem 0}
        .card{border:1px solid #ddd;border-radius:6px;padding:.5rem .7rem} .card b{display:block;font-size:1.25rem}
        .card span{color:#666;font-size:.8rem} figure.chart{margin:1rem 0} figure.chart svg{max-width:100%;height:auto;display:block}
        figcaption{color:#555;font-size:.9rem} .notseen{background:#fff8e1;border:1px solid #f0d98c;border-radius:6px;padding:.5rem 1rem}
        """;

    private const string SelfCheck = """
        (function(){var figs=document.querySelectorAll('figure.chart');var drawn=0;
        figs.forEach(function(f){var s=f.querySelector('svg');if(!s)return;var r=s.getBoundingClientRect();
        var visible=getComputedStyle(s).visibility!=='hidden'&&getComputedStyle(s).display!=='none';
        if(visible&&r.width>50&&r.height>50&&s.querySelectorAll('path,rect,text,line,circle,polyline,polygon').length>10){drawn++;f.dataset.drawn='yes';}else{f.dataset.drawn='no';}});
        document.documentElement.dataset.charts=String(figs.length);document.documentElement.dataset.chartsDrawn=String(drawn);})();
        """;

    public static string Page(string title, string subtitle, IEnumerable<(string Label, string Value)> cards, IReadOnlyList<string> notSeen,
        IReadOnlyList<Chart> charts, IEnumerable<(string Heading, string[] Columns, IEnumerable<string[]> Rows)> tables)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append("</title>");
        html.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>").Append(Style).Append("</style></head><body>\n");
        html.Append("<h1>").Append(E(title)).Append("</h1><p class=\"sub\">").Append(E(subtitle)).Append("</p>\n<div class=\"cards\">");
        foreach (var (label, value) in cards) html.Append("<div class=\"card\"><b>").Append(E(value)).Append("</b><span>").Append(E(label)).Append("</span></div>");
        html.Append("</div>\n");
        if (notSeen.Count > 0)
        {
            html.Append("<div class=\"notseen\"><h2 style=\"border:0;margin-top:.5rem\">What this report could not see</h2><ul>");
            foreach (var line in notSeen) html.Append("<li>").Append(E(line)).Append("</li>");
            html.Append("</ul></div>\n");
        }
        foreach (var chart in charts)
            html.Append("<figure class=\"chart\" id=\"chart-").Append(E(chart.Id)).Append("\">").Append(chart.Svg).Append("<figcaption>").Append(E(chart.Title)).Append("</figcaption></figure>\n");
        foreach (var (heading, columns, rows) in tables)
        {
            html.Append("<h2>").Append(E(heading)).Append("</h2><table><thead><tr>");
            foreach (var c in columns) html.Append("<th>").Append(E(c)).Append("</th>");
            html.Append("</tr></thead><tbody>");
            foreach (var row in rows)
            {
                html.Append("<tr>");
                foreach (var cell in row) html.Append("<td>").Append(E(cell)).Append("</td>");
                html.Append("</tr>");
            }
            html.Append("</tbody></table>\n");
        }
        html.Append("<script>").Append(SelfCheck).Append("</script>\n</body></html>\n");
        return html.ToString();
    }

    public static string E(string text) => WebUtility.HtmlEncode(text);

    public static string N(double value, string format = "0.###") => value.ToString(format, CultureInfo.InvariantCulture);

    public static string Money(double value, string? currency) => value.ToString("0.00##", CultureInfo.InvariantCulture) + (currency is null ? "" : " " + currency);
}
