using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace SpotCheckpoint.Storage.Tests.Proxy;

/// <summary>
/// Makes an S3 emulator answer as a bucket with SSE-KMS default encryption does (<see cref="FaultPlan.KmsBucket"/>):
/// every ETag becomes a value that is not the MD5 of the content (same shape: 32 hex digits, "-N" for multipart),
/// and object answers carry <c>x-amz-server-side-encryption: aws:kms</c>. ETags the client sends back (the part list
/// of CompleteMultipartUpload) are mapped back, so the emulator still sees its own.
/// </summary>
internal sealed partial class KmsAnswers
{
    public const string EncryptionHeader = "x-amz-server-side-encryption";

    private readonly ConcurrentDictionary<string, string> _real = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The ETag a KMS bucket would answer in place of <paramref name="etag"/> (quotes kept as given).</summary>
    public string Disguise(string etag)
    {
        var bare = etag.Trim('"');
        if (bare.Length == 0) return etag;
        int dash = bare.IndexOf('-', StringComparison.Ordinal);
        var suffix = dash < 0 ? "" : bare[dash..];
        var fake = Convert.ToHexString(MD5.HashData(Encoding.UTF8.GetBytes("kms:" + bare))).ToLowerInvariant() + suffix;
        _real[fake] = bare;
        return etag.StartsWith('"') ? $"\"{fake}\"" : fake;
    }

    /// <summary>ETags inside an XML answer (CompleteMultipartUploadResult, ListParts), disguised.</summary>
    public string DisguiseBody(string xml) => ETagElement().Replace(xml, m => m.Groups[1].Value + Disguise(m.Groups[2].Value) + m.Groups[3].Value);

    /// <summary>ETags inside a request body (the CompleteMultipartUpload part list), mapped back to the emulator's.</summary>
    public string RevealBody(string xml) => ETagElement().Replace(xml, m =>
    {
        var quoted = m.Groups[2].Value;
        var bare = quoted.Replace("&quot;", "", StringComparison.Ordinal).Trim('"');
        return _real.TryGetValue(bare, out var real) ? m.Groups[1].Value + quoted.Replace(bare, real, StringComparison.Ordinal) + m.Groups[3].Value : m.Value;
    });

    /// <summary>True for the requests whose body lists ETags: POST ?uploadId=… (CompleteMultipartUpload).</summary>
    public static bool ListsETags(string method, string query) =>
        method == "POST" && query.Contains("uploadId=", StringComparison.Ordinal);

    [GeneratedRegex("(<ETag>)(.*?)(</ETag>)")]
    private static partial Regex ETagElement();
}
