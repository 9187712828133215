namespace SpotCheckpoint.Testing;

/// <summary>A fresh directory under the system temp folder (in <c>folder</c>), deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory(string folder = "spotckpt-tests")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), folder, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
