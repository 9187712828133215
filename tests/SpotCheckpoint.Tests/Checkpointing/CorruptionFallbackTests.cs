using SpotCheckpoint.Scheduling;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Checkpointing;

public class CorruptionFallbackTests
{
    private TempDirectory _dir = null!;
    private LocalFileStore _store = null!;
    private string _straight = "";

    [SetUp]
    public async Task WriteCheckpointsAtSteps5And10()
    {
        _dir = new TempDirectory();
        _store = new LocalFileStore(_dir.Path);
        using var job = new TinyTraining("adam", "onecycle");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(_store, CheckpointPolicy.EverySteps(5)));
        for (long step = 1; step <= TinyTraining.TotalSteps; step++)
        {
            job.TrainStep();
            ckpt.Step(step);
            if (step == 10) await ckpt.FlushAsync();
            if (step == 10) break;
        }
        await ckpt.FlushAsync();

        using var straightJob = new TinyTraining("adam", "onecycle");
        using var dir = new TempDirectory();
        var straight = straightJob.Attach(TinyTraining.NewCheckpointer(new LocalFileStore(dir.Path)));
        for (long step = 1; step <= TinyTraining.TotalSteps; step++) straightJob.TrainStep();
        _straight = straight.ComputeStateSha256();
    }

    [TearDown]
    public async Task Cleanup()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    private string StepDir(long step) => Path.Combine(_dir.Path, "test", $"step-{step:D8}");
    private string Shard(long step) => Directory.GetFiles(StepDir(step), "shard-*.safetensors").Single();
    private string Manifest(long step) => Path.Combine(StepDir(step), "manifest.json");

    private async Task<(ResumeResult Result, string FinalHash)> ResumeAndFinish()
    {
        using var job = new TinyTraining("adam", "onecycle", initSeed: 77);
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(_store));
        var result = await ckpt.ResumeAsync();
        for (long step = result.Step + 1; step <= TinyTraining.TotalSteps; step++)
        {
            job.TrainStep();
            ckpt.Step(step);
        }
        return (result, ckpt.ComputeStateSha256());
    }

    private static void FlipByte(string path, long offsetFromEnd)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        f.Position = f.Length - offsetFromEnd;
        int b = f.ReadByte();
        f.Position = f.Length - offsetFromEnd;
        f.WriteByte((byte)(b ^ 0x01));
    }

    [Test]
    public async Task Intact_checkpoints_resume_from_the_newest()
    {
        var (result, hash) = await ResumeAndFinish();
        Assert.That(result.Step, Is.EqualTo(10));
        Assert.That(result.SkippedCheckpoints, Is.Empty);
        Assert.That(hash, Is.EqualTo(_straight));
    }

    [Test]
    public async Task A_truncated_shard_falls_back_to_the_previous_checkpoint()
    {
        using (var f = new FileStream(Shard(10), FileMode.Open)) f.SetLength(f.Length - 100);
        var (result, hash) = await ResumeAndFinish();
        Assert.That(result.Step, Is.EqualTo(5));
        Assert.That(result.SkippedCheckpoints.Single(), Is.TypeOf<CheckpointCorruptException>());
        Assert.That(hash, Is.EqualTo(_straight));
    }

    [Test]
    public async Task A_flipped_data_byte_falls_back_to_the_previous_checkpoint()
    {
        FlipByte(Shard(10), offsetFromEnd: 3000);
        var (result, hash) = await ResumeAndFinish();
        Assert.That(result.Step, Is.EqualTo(5));
        Assert.That(result.SkippedCheckpoints.Single().Message, Does.Contain("checksum"));
        Assert.That(hash, Is.EqualTo(_straight));
    }

    [Test]
    public async Task A_flipped_header_byte_falls_back_to_the_previous_checkpoint()
    {
        var shard = Shard(10);
        var bytes = File.ReadAllBytes(shard);
        int at = Array.IndexOf(bytes, (byte)'[', 8); // inside the JSON header
        bytes[at + 1] ^= 0x02;
        File.WriteAllBytes(shard, bytes);
        var (result, hash) = await ResumeAndFinish();
        Assert.That(result.Step, Is.EqualTo(5));
        Assert.That(hash, Is.EqualTo(_straight));
    }

    [Test]
    public async Task A_deleted_manifest_makes_the_checkpoint_invisible()
    {
        File.Delete(Manifest(10));
        var (result, hash) = await ResumeAndFinish();
        Assert.That(result.Step, Is.EqualTo(5));
        Assert.That(result.SkippedCheckpoints, Is.Empty, "without a manifest the checkpoint was never committed");
        Assert.That(hash, Is.EqualTo(_straight));
    }

    [Test]
    public async Task A_changed_manifest_byte_falls_back_to_the_previous_checkpoint()
    {
        var text = File.ReadAllText(Manifest(10));
        File.WriteAllText(Manifest(10), text.Replace("\"epoch\":0", "\"epoch\":1", StringComparison.Ordinal));
        var (result, hash) = await ResumeAndFinish();
        Assert.That(result.Step, Is.EqualTo(5));
        Assert.That(result.SkippedCheckpoints.Single().Message, Does.Contain("manifest checksum"));
        Assert.That(hash, Is.EqualTo(_straight));
    }

    [Test]
    public async Task A_missing_shard_falls_back_to_the_previous_checkpoint()
    {
        File.Delete(Shard(10));
        var (result, _) = await ResumeAndFinish();
        Assert.That(result.Step, Is.EqualTo(5));
        Assert.That(result.SkippedCheckpoints.Single().Message, Does.Contain("missing"));
    }

    [Test]
    public async Task A_resumed_run_writes_the_corrupt_step_again_and_later_resumes_from_it()
    {
        FlipByte(Shard(10), offsetFromEnd: 3000);
        using (var job = new TinyTraining("adam", "onecycle", initSeed: 77))
        {
            await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(_store, CheckpointPolicy.EverySteps(5)));
            var result = await ckpt.ResumeAsync();
            Assert.That(result.Step, Is.EqualTo(5));
            Assert.That(File.Exists(Manifest(10)), Is.False, "the corrupt checkpoint is removed once the run resumed before it");
            for (long step = 6; step <= 10; step++) { job.TrainStep(); ckpt.Step(step); }
            await ckpt.FlushAsync();
            Assert.That(ckpt.Statistics.Failed, Is.Zero, "step 10 commits again without a conflict");
        }
        var (again, hash) = await ResumeAndFinish();
        Assert.That(again.Step, Is.EqualTo(10));
        Assert.That(hash, Is.EqualTo(_straight));
    }

    [Test]
    public async Task A_corrupt_manifest_left_at_a_step_does_not_block_committing_that_step()
    {
        using var job = new TinyTraining("adam", "onecycle");
        await using var ckpt = job.Attach(TinyTraining.NewCheckpointer(_store));
        for (long step = 1; step <= 10; step++) job.TrainStep();
        ckpt.Step(11);
        Directory.CreateDirectory(Path.Combine(_dir.Path, "test", "step-00000011"));
        File.WriteAllText(Path.Combine(_dir.Path, "test", "step-00000011", "manifest.json"), "{ half written");
        var result = await ckpt.CheckpointAsync();
        Assert.That(result!.Step, Is.EqualTo(11));
        Assert.DoesNotThrowAsync(() => SpotCheckpoint.Format.CheckpointReader.OpenAsync(_store, "test", 11));
    }

    [Test]
    public void When_every_checkpoint_is_corrupt_resume_raises_a_typed_error_listing_each()
    {
        FlipByte(Shard(10), 3000);
        File.WriteAllText(Manifest(5), "garbage");
        using var job = new TinyTraining("adam", "onecycle");
        var ckpt = job.Attach(TinyTraining.NewCheckpointer(_store));
        var ex = Assert.ThrowsAsync<NoUsableCheckpointException>(() => ckpt.ResumeAsync());
        Assert.That(ex!.Failures, Has.Count.EqualTo(2));
        Assert.That(ex.Message, Does.Contain("step-00000010").And.Contain("step-00000005"));
    }
}
