using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using SpotCheckpoint.Export;
using SpotCheckpoint.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace SpotCheckpoint.Tests.State;

public class ExportTests
{
    // An independent reader: the safetensors layout parsed with Python's standard library only.
    private const string PythonReader = """
        import hashlib, json, struct, sys
        data = open(sys.argv[1], "rb").read()
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n].decode("utf-8"))
        base = 8 + n
        assert base % 8 == 0, "data is not 8-byte aligned"
        header.pop("__metadata__", None)
        out, end = {}, 0
        for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            b, e = t["data_offsets"]
            assert b == end, "tensors are not contiguous"
            end = e
            out[name] = {"dtype": t["dtype"], "shape": t["shape"], "sha256": hashlib.sha256(data[base + b:base + e]).hexdigest()}
        assert base + end == len(data), "trailing bytes"
        print(json.dumps(out))
        """;

    private static nn.Module<Tensor, Tensor> NewModel(long seed)
    {
        random.manual_seed(seed);
        return nn.Sequential(("fc1", nn.Linear(5, 7)), ("norm", nn.BatchNorm1d(7)), ("act", nn.ReLU()), ("head", nn.Linear(7, 2)));
    }

    private static async Task<(TempDirectory Dir, nn.Module<Tensor, Tensor> Model)> TrainedRunAsync()
    {
        var dir = new TempDirectory();
        var model = NewModel(1);
        using var opt = optim.Adam(model.parameters(), lr: 0.05);
        await using var ckpt = OptimizerJob.NewCheckpointer(new LocalFileStore(dir.Path)).AddModule("model", model).AddOptimizer("optimizer", opt);
        for (int i = 0; i < 3; i++)
        {
            using var scope = NewDisposeScope();
            model.train();
            opt.zero_grad();
            model.forward(randn(6, 5)).pow(2).mean().backward();
            opt.step();
        }
        ckpt.Step(3);
        await ckpt.CheckpointAsync();
        return (dir, model);
    }

    private static string? FindPython()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            var candidate = Path.Combine(dir, "python3");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    [Test]
    public async Task Safetensors_export_holds_exactly_the_models_parameters_and_buffers_for_an_independent_reader()
    {
        var python = FindPython();
        if (python is null)
        {
            if (Environment.GetEnvironmentVariable("CI") == "true") Assert.Fail("python3 is needed for the independent safetensors check under CI");
            Assert.Ignore("python3 is not on PATH: the independent safetensors check cannot run here");
        }
        var (dir, model) = await TrainedRunAsync();
        using var _ = dir;
        using var __ = model;
        var file = Path.Combine(dir.Path, "weights.safetensors");
        var result = await CheckpointExport.ExportWeightsAsync(new LocalFileStore(dir.Path), "test", file, WeightsFormat.Safetensors);
        Assert.That(result.Step, Is.EqualTo(3));

        var script = Path.Combine(dir.Path, "read.py");
        await File.WriteAllTextAsync(script, PythonReader);
        var start = new ProcessStartInfo(python!) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(file);
        using var process = Process.Start(start)!;
        var stdout = await process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.That(process.ExitCode, Is.Zero, stderr);

        var read = JsonDocument.Parse(stdout).RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
        var expected = model.state_dict();
        Assert.That(read.Keys, Is.EquivalentTo(expected.Keys), "parameters and buffers, nothing of the optimizer");
        foreach (var (key, t) in expected)
        {
            var r = read[key];
            Assert.That(r.GetProperty("dtype").GetString(), Is.EqualTo(SpotCheckpoint.Format.TensorDtypes.NameOf(t.dtype, key)), key);
            Assert.That(r.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()), Is.EqualTo(t.shape), key);
            Assert.That(r.GetProperty("sha256").GetString(), Is.EqualTo(Convert.ToHexStringLower(SHA256.HashData(t.bytes))), key);
        }
    }

    [Test]
    public async Task TorchSharp_export_loads_with_Module_load_and_gives_identical_outputs()
    {
        var (dir, model) = await TrainedRunAsync();
        using var _ = dir;
        using var __ = model;
        var file = Path.Combine(dir.Path, "weights.dat");
        await CheckpointExport.ExportWeightsAsync(new LocalFileStore(dir.Path), "test", file, WeightsFormat.TorchSharp);

        using var fresh = NewModel(42);
        fresh.load(file);
        model.eval();
        fresh.eval();
        using var x = randn(4, 5);
        Assert.That(fresh.forward(x).bytes.ToArray(), Is.EqualTo(model.forward(x).bytes.ToArray()));
    }

    [Test]
    public async Task LoadWeights_fills_a_model_without_a_training_setup()
    {
        var (dir, model) = await TrainedRunAsync();
        using var _ = dir;
        using var __ = model;
        using var fresh = NewModel(42);
        var parameter = fresh.parameters().First();
        var step = await CheckpointExport.LoadWeightsAsync(dir.Path, "test", fresh);
        Assert.That(step, Is.EqualTo(3));
        Assert.That(ReferenceEquals(parameter, fresh.parameters().First()), "in place: the Parameter objects stay");
        var saved = model.state_dict();
        foreach (var (key, t) in fresh.state_dict()) Assert.That(t.bytes.ToArray(), Is.EqualTo(saved[key].bytes.ToArray()), key);
    }

    [Test]
    public async Task LoadWeights_into_a_model_of_another_shape_changes_nothing_and_names_the_tensor()
    {
        var (dir, model) = await TrainedRunAsync();
        using var _ = dir;
        using var __ = model;
        random.manual_seed(5);
        using var other = nn.Sequential(("fc1", nn.Linear(5, 8)), ("norm", nn.BatchNorm1d(8)), ("act", nn.ReLU()), ("head", nn.Linear(8, 2)));
        var before = other.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.bytes.ToArray());
        var ex = Assert.ThrowsAsync<CheckpointMismatchException>(() => CheckpointExport.LoadWeightsAsync(dir.Path, "test", other));
        Assert.That(ex!.TensorName, Is.EqualTo("model/fc1.weight"));
        foreach (var (key, t) in other.state_dict()) Assert.That(t.bytes.ToArray(), Is.EqualTo(before[key]), key);
    }
}
