using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace SpotCheckpoint.Storage.Gcs;

/// <summary>
/// One resumable upload session of the GCS JSON API: chunks are sent in order (every chunk but the last a multiple of
/// 256 KiB), the last one with the object's total size and its CRC32C in <c>X-Goog-Hash</c>, which GCS checks. After a
/// failed request the session is asked how many bytes it holds and the upload goes on from there.
/// </summary>
internal sealed class GcsResumableUpload(GcsCheckpointStore store, string key, string name, bool ifAbsent)
{
    private readonly Crc32C _crc = new();
    private Uri? _session;
    private long _persisted;

    /// <summary>Whether a session was opened (and so may need cancelling).</summary>
    public bool Started => _session is not null;

    /// <summary>The CRC32C of everything sent, as GCS writes it.</summary>
    public string Crc32CBase64 => _crc.ToBase64();

    /// <summary>Sends the next chunk. Returns the object's metadata after the last one.</summary>
    public async Task<GcsObjectInfo?> SendAsync(ReadOnlyMemory<byte> chunk, bool isLast, CancellationToken cancellationToken)
    {
        if (!isLast && chunk.Length % GcsStoreOptions.ChunkGranularity != 0)
            throw new InvalidOperationException("GCS needs chunks in multiples of 256 KiB.");
        _crc.Append(chunk.Span);
        long start = _persisted;
        long end = start + chunk.Length;
        return await store.Operation.RunAsync($"Uploading bytes {start}-{end} of '{key}'", async token =>
        {
            _session ??= await StartAsync(token).ConfigureAwait(false);
            try
            {
                return await PutAsync(chunk, start, end, isLast, token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not CheckpointException && GcsClientFactory.IsTransient(ex))
            {
                // Learn what the session holds so that the retry sends only the rest.
                try { await QueryAsync(isLast ? end : null, token).ConfigureAwait(false); }
                catch (Exception query) when (GcsClientFactory.IsTransient(query)) { }
                throw;
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task<GcsObjectInfo?> PutAsync(ReadOnlyMemory<byte> chunk, long start, long end, bool isLast, CancellationToken token)
    {
        if (_persisted < start) throw new CheckpointStoreException($"The upload session of '{key}' lost bytes already confirmed ({_persisted} < {start}).");
        if (_persisted >= end && !isLast) return null; // a retry after the store took the whole chunk
        var rest = chunk[(int)Math.Min(chunk.Length, _persisted - start)..];
        using var request = new HttpRequestMessage(HttpMethod.Put, _session) { Content = new ReadOnlyMemoryContent(rest) };
        request.Content.Headers.ContentLength = rest.Length;
        request.Content.Headers.Add("Content-Range", rest.Length == 0
            ? $"bytes */{end}"
            : $"bytes {_persisted}-{end - 1}/{(isLast ? end.ToString(CultureInfo.InvariantCulture) : "*")}");
        if (isLast) request.Headers.TryAddWithoutValidation("X-Goog-Hash", "crc32c=" + _crc.ToBase64());
        using var response = await store.Http.SendAsync(request, HttpCompletionOption.ResponseContentRead, token).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Created)
        {
            var info = await GcsObjectInfo.ReadAsync(response, token).ConfigureAwait(false);
            if (!isLast)
            {
                // Some emulators finalize on the first chunk and drop the rest: never leave such an object behind.
                try { await store.DeleteAsync(key, CancellationToken.None).ConfigureAwait(false); }
                catch (CheckpointStoreException) { /* retention removes it; the manifest never names it */ }
                throw new CheckpointCorruptException(key, $"the store finalized the upload after {end} bytes, before its last chunk");
            }
            _persisted = end;
            return info;
        }
        if ((int)response.StatusCode == 308)
        {
            _persisted = PersistedFrom(response);
            if (_persisted == end && !isLast) return null;
            throw new IOException($"The store took {_persisted} of {end} bytes of '{key}'; sending the rest.");
        }
        throw await FailureAsync(response, token).ConfigureAwait(false);
    }

    private async Task<Uri> StartAsync(CancellationToken token)
    {
        var url = $"{store.UploadBase}b/{Uri.EscapeDataString(store.Location.Bucket)}/o?uploadType=resumable&name={Uri.EscapeDataString(name)}";
        if (ifAbsent) url += "&ifGenerationMatch=0";
        // CMEK: the object's key; GCS encrypts with it (the service account needs Encrypter/Decrypter on the key).
        if (store.Options.KmsKeyName is { } kms) url += "&kmsKeyName=" + Uri.EscapeDataString(kms);
        var metadata = new Dictionary<string, string> { ["name"] = name };
        if (store.Options.StorageClass is { } storageClass) metadata["storageClass"] = storageClass;
        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent(JsonSerializer.Serialize(metadata), Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("X-Upload-Content-Type", "application/octet-stream");
        using var response = await store.Http.SendAsync(request, token).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode) throw await FailureAsync(response, token).ConfigureAwait(false);
        return response.Headers.Location ?? throw new IOException($"The store opened no upload session for '{key}'.");
    }

    private async Task QueryAsync(long? total, CancellationToken token)
    {
        if (_session is null) return;
        using var request = new HttpRequestMessage(HttpMethod.Put, _session) { Content = new ByteArrayContent([]) };
        request.Content.Headers.Add("Content-Range", $"bytes */{(total is { } t ? t.ToString(CultureInfo.InvariantCulture) : "*")}");
        using var response = await store.Http.SendAsync(request, token).ConfigureAwait(false);
        if ((int)response.StatusCode == 308) _persisted = PersistedFrom(response);
        else if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Created && total is { } done) _persisted = done;
    }

    /// <summary>Cancels the session; the bytes sent so far are discarded by the store.</summary>
    public async Task CancelAsync(CancellationToken cancellationToken)
    {
        if (_session is null) return;
        using var request = new HttpRequestMessage(HttpMethod.Delete, _session);
        using var response = await store.Http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        // 499 is the documented answer to a cancelled session; 404/410 mean it is gone already.
    }

    private static long PersistedFrom(HttpResponseMessage response)
    {
        // "Range: bytes=0-N" means N+1 bytes are held; no Range header means none.
        if (!response.Headers.TryGetValues("Range", out var values)) return 0;
        var value = values.First();
        int dash = value.LastIndexOf('-');
        return long.Parse(value.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture) + 1;
    }

    private async Task<Exception> FailureAsync(HttpResponseMessage response, CancellationToken token)
    {
        if (response.StatusCode == HttpStatusCode.PreconditionFailed) return new CheckpointConflictException(key);
        string body = "";
        try { body = await response.Content.ReadAsStringAsync(token).ConfigureAwait(false); }
        catch (Exception ex) when (ex is IOException or HttpRequestException) { }
        if (body.Length > 300) body = body[..300];
        return new GcsHttpException(response.StatusCode, $"The store answered {(int)response.StatusCode} {response.ReasonPhrase} for '{key}': {body}");
    }
}

/// <summary>The fields of an object's metadata that verification needs.</summary>
internal sealed record GcsObjectInfo(long Size, string? Crc32C)
{
    public static async Task<GcsObjectInfo> ReadAsync(HttpResponseMessage response, CancellationToken token)
    {
        using var json = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false), cancellationToken: token).ConfigureAwait(false);
        var root = json.RootElement;
        long size = root.TryGetProperty("size", out var s) ? long.Parse(s.GetString() ?? "0", CultureInfo.InvariantCulture) : -1;
        string? crc = root.TryGetProperty("crc32c", out var c) ? c.GetString() : null;
        return new GcsObjectInfo(size, crc);
    }
}
