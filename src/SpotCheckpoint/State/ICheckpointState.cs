using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace SpotCheckpoint.State;

/// <summary>
/// User state saved with each checkpoint, such as a data loader's position. <see cref="Capture"/> runs on the
/// training thread at the step boundary; <see cref="Restore"/> runs during resume. Keep it small (it lives in the
/// manifest).
/// </summary>
public interface ICheckpointState
{
    /// <summary>Returns the bytes to save.</summary>
    ReadOnlyMemory<byte> Capture();

    /// <summary>Restores from bytes that <see cref="Capture"/> produced.</summary>
    void Restore(ReadOnlyMemory<byte> data);
}

/// <summary>User state kept as a JSON-serialized value.</summary>
/// <typeparam name="T">The value type.</typeparam>
public sealed class JsonCheckpointState<T> : ICheckpointState
{
    private readonly Func<T> _capture;
    private readonly Action<T> _restore;
    private readonly JsonTypeInfo<T>? _typeInfo;

    /// <summary>Creates the adapter.</summary>
    /// <param name="capture">Returns the current value.</param>
    /// <param name="restore">Applies a restored value.</param>
    /// <param name="typeInfo">Source-generated metadata (recommended for trimmed apps); reflection when null.</param>
    public JsonCheckpointState(Func<T> capture, Action<T> restore, JsonTypeInfo<T>? typeInfo = null)
    {
        _capture = capture ?? throw new ArgumentNullException(nameof(capture));
        _restore = restore ?? throw new ArgumentNullException(nameof(restore));
        _typeInfo = typeInfo;
    }

    /// <inheritdoc />
    public ReadOnlyMemory<byte> Capture() => _typeInfo is null
#pragma warning disable IL2026, IL3050 // reflection serialization is the documented fallback
        ? JsonSerializer.SerializeToUtf8Bytes(_capture())
        : JsonSerializer.SerializeToUtf8Bytes(_capture(), _typeInfo);

    /// <inheritdoc />
    public void Restore(ReadOnlyMemory<byte> data)
    {
        var value = _typeInfo is null
            ? JsonSerializer.Deserialize<T>(data.Span)
            : JsonSerializer.Deserialize(data.Span, _typeInfo);
#pragma warning restore IL2026, IL3050
        _restore(value!);
    }
}
