namespace SpotCheckpoint.Testing;

/// <summary>
/// A fixture whose every test, and every attempt of a retried test, gets a fresh work directory (so an attempt never
/// meets what a failed one left), deleted after it.
/// </summary>
public abstract class WorkDirectoryFixture(string folder)
{
    private TempDirectory? _directory;

    /// <summary>This test's work directory.</summary>
    protected string Work => _directory?.Path ?? throw new InvalidOperationException("the work directory exists only during a test");

    [SetUp]
    public void CreateWorkDirectory() => _directory = new TempDirectory(folder);

    [TearDown]
    public void DeleteWorkDirectory() => _directory?.Dispose();
}
