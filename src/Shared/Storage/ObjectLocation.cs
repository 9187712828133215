namespace SpotCheckpoint.Storage;

/// <summary>A bucket (or container) and a key prefix inside it, as every object store is addressed.</summary>
internal readonly record struct ObjectLocation(string Bucket, string Prefix)
{
    /// <summary>Reads <c>scheme://bucket/prefix</c>.</summary>
    public static ObjectLocation FromUri(Uri uri, string scheme)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!string.Equals(uri.Scheme, scheme, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"'{uri}' is not a {scheme}:// URI.", nameof(uri));
        if (!string.IsNullOrEmpty(uri.UserInfo))
            throw new ArgumentException($"Put credentials in the environment or the store options, never in a {scheme}:// URI.", nameof(uri));
        var bucket = uri.Host;
        // Azure Blob calls it a container; the URI as typed (Uri.ToString would turn "s3://" into "s3:///").
        var bucketWord = string.Equals(scheme, "az", StringComparison.OrdinalIgnoreCase) ? "container" : "bucket";
        if (bucket.Length == 0) throw new ArgumentException($"'{uri.OriginalString}' names no {bucketWord}: use {scheme}://{bucketWord}/prefix.", nameof(uri));
        return new ObjectLocation(bucket, NormalizePrefix(Uri.UnescapeDataString(uri.AbsolutePath)));
    }

    /// <summary>Trims slashes and ends a non-empty prefix with exactly one '/'.</summary>
    public static string NormalizePrefix(string? prefix)
    {
        var trimmed = (prefix ?? "").Trim('/');
        if (trimmed.Length == 0) return "";
        if (trimmed.Contains("//", StringComparison.Ordinal))
            throw new ArgumentException($"The prefix '{prefix}' has an empty segment.", nameof(prefix));
        return trimmed + "/";
    }

    /// <summary>The object name of a store key.</summary>
    public string NameOf(string key) => Prefix + StoreKeys.ValidateKey(key);

    /// <summary>The store key of an object name under the prefix; null for names outside it.</summary>
    public string? KeyOf(string name) =>
        name.StartsWith(Prefix, StringComparison.Ordinal) && name.Length > Prefix.Length ? name[Prefix.Length..] : null;

    /// <summary>A description without credentials, such as <c>s3://bucket/prefix/</c>.</summary>
    public string Describe(string scheme) => $"{scheme}://{Bucket}/{Prefix}";
}
