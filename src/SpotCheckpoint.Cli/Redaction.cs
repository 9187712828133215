using System.Text.RegularExpressions;

namespace SpotCheckpoint.Cli;

/// <summary>
/// Removes secrets from text the CLI (and the sample trainer, which links this file) echoes: a URI's query string
/// (a SAS token's <c>sig=</c> lives there) and user info, connection-string keys and passwords, AWS secret keys.
/// What stays is enough to recognise the location: scheme, host, bucket or container, prefix.
/// </summary>
internal static partial class Redaction
{
    /// <summary>What replaces a secret.</summary>
    public const string Mask = "***";

    /// <summary>Returns <paramref name="text"/> with every secret it holds replaced by <see cref="Mask"/>.</summary>
    public static string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text)) return text ?? "";
        text = UriQuery().Replace(text, m => m.Groups["base"].Value + "?" + Mask);
        text = UriUserInfo().Replace(text, m => m.Groups["scheme"].Value + Mask + "@");
        text = SecretSetting().Replace(text, m => m.Groups["name"].Value + m.Groups["sep"].Value + Mask);
        text = SasSignature().Replace(text, m => m.Groups["name"].Value + Mask);
        return text;
    }

    // A URI (any scheme) followed by a query string: everything after '?' up to whitespace or a quote goes.
    [GeneratedRegex(@"(?<base>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'""?]*)\?[^\s'""]*")]
    private static partial Regex UriQuery();

    // user:password@ (or a bare token@) after a scheme; pasted secrets may hold an unescaped '/' (AWS secret keys).
    [GeneratedRegex(@"(?<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s'""@]+@")]
    private static partial Regex UriUserInfo();

    // Connection-string and configuration settings that hold secrets: AccountKey=…;, SharedAccessSignature=…, Password=…
    [GeneratedRegex(@"(?<name>\b(?:AccountKey|SharedAccessSignature|SharedAccessKey|Password|Pwd|SecretAccessKey|aws_secret_access_key|aws_session_token|SessionToken|client_secret|private_key))(?<sep>\s*[=:]\s*)[^;\s'""&]+",
        RegexOptions.IgnoreCase)]
    private static partial Regex SecretSetting();

    // A SAS signature outside a URI (a token pasted on its own).
    [GeneratedRegex(@"(?<name>\bsig=)[^&\s'""]+", RegexOptions.IgnoreCase)]
    private static partial Regex SasSignature();
}
