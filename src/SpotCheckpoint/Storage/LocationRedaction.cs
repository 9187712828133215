using System.Text.RegularExpressions;

namespace SpotCheckpoint.Storage;

/// <summary>
/// Removes secrets from a checkpoint location (or any text that quotes one) before it reaches a message or a log:
/// query-string values (a SAS <c>sig=</c>, tokens), user info in a URI, and the secret parts of a connection string
/// or credentials file (<c>AccountKey=</c>, <c>SharedAccessSignature=</c>, <c>aws_secret_access_key</c>, …). Bucket,
/// container, host and path stay readable. The library, the CLI and the samples all use this one helper.
/// </summary>
public static partial class LocationRedaction
{
    /// <summary>The text that stands in for a removed secret.</summary>
    public const string Mask = "***";

    /// <summary>Returns <paramref name="location"/> with every secret replaced by <see cref="Mask"/> (empty for null).</summary>
    public static string Redact(string? location)
    {
        if (string.IsNullOrEmpty(location)) return location ?? "";
        var text = UserInfo().Replace(location, m => m.Groups[1].Value + Mask + "@");
        text = QueryValue().Replace(text, m => m.Groups[1].Value + Mask);
        return SecretSetting().Replace(text, m => m.Groups[1].Value + Mask);
    }

    // user:password@ (or a bare token@) after a scheme; a pasted AWS secret key may hold an unescaped '/'.
    [GeneratedRegex(@"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s'""@?#]+@")]
    private static partial Regex UserInfo();

    // Every value after ? or & in a URL: SAS fields, signed-URL tokens, API keys.
    [GeneratedRegex(@"([?&][^=&\s'""#]+=)[^&\s'""#]*")]
    private static partial Regex QueryValue();

    // Settings that hold secrets, in connection strings (Name=value;) and credentials files (name = value).
    [GeneratedRegex(@"(?i)\b((?:AccountKey|SharedAccessSignature|SharedAccessKey|SharedAccessKeyName|AccessKey|SecretAccessKey|SessionToken|Password|Pwd|sig|aws_secret_access_key|aws_session_token|client_secret|private_key)\s*[=:]\s*)[^;&\s'""]+")]
    private static partial Regex SecretSetting();
}
