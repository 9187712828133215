using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Cli.Tests;

[TestFixtureSource(typeof(TestStores), nameof(TestStores.Kinds))]
public sealed class ExportCommandTests(string kind)
{
    private StoreUnderTest _store = null!;
    private string _output = "";

    [SetUp]
    public async Task SetUp()
    {
        _store = TestStores.Create(kind);
        _output = Path.Combine(Path.GetTempPath(), "spotckpt-export-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_output);
        await TrainingRun.RunAsync(_store.Root, "demo", steps: 8, every: 4);
    }

    [TearDown]
    public void TearDown()
    {
        _store.Dispose();
        try { Directory.Delete(_output, recursive: true); } catch (IOException) { }
    }

    [TestCase(4L)]
    [TestCase(null)]
    public async Task The_torchsharp_format_loads_with_Module_load_and_holds_that_steps_weights(long? step)
    {
        var file = Path.Combine(_output, "model.dat");
        string[] args = ["export", _store.RunUri("demo"), "--format", "torchsharp", "--output", file];
        if (step is long s) args = [.. args, "--step", s.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        var (exit, output, error) = await Cli.RunAsync(args);
        Assert.That(exit, Is.Zero, error);
        Assert.That(output, Does.Contain($"step {step ?? 8}"));

        using var fromFile = new TrainingRun();
        fromFile.Model.load(file);
        using var fromLibrary = new TrainingRun();
        await SpotCheckpoint.Export.CheckpointExport.LoadWeightsAsync(_store.Root, "demo", fromLibrary.Model, step ?? 8);
        foreach (var (key, t) in fromLibrary.Model.state_dict())
            Assert.That(fromFile.Model.state_dict()[key].bytes.ToArray(), Is.EqualTo(t.bytes.ToArray()), key);
    }

    [Test]
    public async Task A_step_that_is_not_committed_is_an_error_listing_the_steps_and_writes_nothing()
    {
        var file = Path.Combine(_output, "model.safetensors");
        var (exit, _, error) = await Cli.RunAsync("export", _store.RunUri("demo"), "--step", "5", "--format", "safetensors", "--output", file);
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(error, Does.Contain("committed steps: 8, 4"));
        Assert.That(Directory.GetFiles(_output), Is.Empty);
    }

    [Test]
    public async Task A_corrupt_tensor_is_exit_code_3_and_leaves_no_file()
    {
        await using (var store = _store.Open()) await Cli.FlipTensorByteAsync(store, "demo", 8);
        var file = Path.Combine(_output, "model.safetensors");
        var (exit, _, error) = await Cli.RunAsync("export", _store.RunUri("demo"), "--format", "safetensors", "--output", file);
        Assert.That(exit, Is.EqualTo(3), error);
        Assert.That(error, Does.Contain("model/fc1.weight"));
        Assert.That(Directory.GetFiles(_output), Is.Empty);
    }
}
