using System.Text.RegularExpressions;

namespace SpotCheckpoint.Storage;

/// <summary>
/// Removes secrets from a checkpoint location (or any text that quotes one) before it reaches a message or a log:
/// query-string values (a SAS <c>sig=</c>, tokens), user info in a URI, and the secret parts of a connection string
/// (<c>AccountKey=</c>, <c>SharedAccessSignature=</c>, …). Bucket, container, host and path stay readable.
/// </summary>
public static partial class LocationRedaction
{
    /// <summary>The text that stands in for a removed secret.</summary>
    public const string Mask = "***";

    /// <summary>Returns <paramref name="location"/> with every secret replaced by <see cref="Mask"/>.</summary>
    public static string Redact(string location)
    {
        if (string.IsNullOrEmpty(location)) return location;
        var text = UserInfo().Replace(location, "://" + Mask + "@");
        text = QueryValue().Replace(text, m => m.Groups[1].Value + Mask);
        return SecretSetting().Replace(text, m => m.Groups[1].Value + Mask);
    }

    [GeneratedRegex(@"://[^/\s@?#'""]+@")]
    private static partial Regex UserInfo();

    // Every value after ? or & in a URL: SAS fields, signed-URL tokens, API keys.
    [GeneratedRegex(@"([?&][^=&\s'""#]+=)[^&\s'""#]*")]
    private static partial Regex QueryValue();

    [GeneratedRegex(@"(?i)\b((?:AccountKey|SharedAccessSignature|SharedAccessKey|SharedAccessKeyName|AccessKey|SecretAccessKey|SessionToken|Password|Pwd|sig)\s*=\s*)[^;&\s'""]+")]
    private static partial Regex SecretSetting();
}
