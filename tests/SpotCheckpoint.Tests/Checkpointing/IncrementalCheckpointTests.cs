using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Checkpointing;

/// <summary>Incremental checkpoints (format version 2): what a user of a frozen base relies on.</summary>
public class IncrementalCheckpointTests
{
    private const int Steps = 8;
    private TempDirectory _dir = null!;
    private LocalFileStore _store = null!;

    [SetUp]
    public void Open()
    {
        _dir = new TempDirectory();
        _store = new LocalFileStore(_dir.Path);
    }

    [TearDown]
    public async Task Close()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    private string ChunksDir => Path.Combine(_dir.Path, "test", StoreKeys.ChunksFolderName);

    private string[] Packs(long step) => Directory.GetFiles(ChunksDir, $"{step:D8}-*.bin");

    /// <summary>Trains <paramref name="until"/> steps, checkpointing every <paramref name="every"/>; returns the results.</summary>
    private async Task<List<CheckpointResult>> TrainAsync(long until, long every, Action<CheckpointerOptions>? configure = null)
    {
        using var job = new FrozenBaseTraining();
        await using var ckpt = job.Attach(FrozenBaseTraining.NewCheckpointer(_store, configure));
        var results = new List<CheckpointResult>();
        for (long step = 1; step <= until; step++)
        {
            job.TrainStep();
            ckpt.Step(step);
            if (step % every == 0) results.Add((await ckpt.CheckpointAsync())!);
        }
        await ckpt.FlushAsync();
        return results;
    }

    private static string Straight()
    {
        using var job = new FrozenBaseTraining();
        using var dir = new TempDirectory();
        var ckpt = job.Attach(FrozenBaseTraining.NewCheckpointer(new LocalFileStore(dir.Path)));
        for (long step = 1; step <= Steps; step++) job.TrainStep();
        return ckpt.ComputeStateSha256();
    }

    private async Task<(ResumeResult Result, string Hash)> ResumeAndFinishAsync(Action<CheckpointerOptions>? configure = null)
    {
        using var job = new FrozenBaseTraining(initSeed: 99);
        await using var ckpt = job.Attach(FrozenBaseTraining.NewCheckpointer(_store, configure));
        var result = await ckpt.ResumeAsync();
        for (long step = result.Step + 1; step <= Steps; step++)
        {
            job.TrainStep();
            ckpt.Step(step);
        }
        return (result, ckpt.ComputeStateSha256());
    }

    [Test]
    public async Task A_checkpoint_after_the_first_writes_only_what_changed_and_references_the_frozen_base()
    {
        var results = await TrainAsync(until: 4, every: 2);

        Assert.That(results[0].BytesReused, Is.Zero, "the first checkpoint has nothing to reuse");
        Assert.That(results[0].Bytes, Is.GreaterThan(FrozenBaseTraining.BaseBytes));
        Assert.That(results[1].BytesReused, Is.GreaterThanOrEqualTo(FrozenBaseTraining.BaseBytes), "the frozen base is referenced, not written");
        Assert.That(results[1].Bytes, Is.LessThan(FrozenBaseTraining.BaseBytes / 10), "only the head, its optimizer state and the manifest are written");
        var reader = await CheckpointReader.OpenAsync(_store, "test", 4);
        Assert.That(reader.Manifest.SchemaVersion, Is.EqualTo(CheckpointManifest.ChunkedSchemaVersion));
        Assert.That(reader.Manifest.Packs!.Select(p => p.Step).Distinct().Order(), Is.EqualTo(new long[] { 2, 4 }));
        await reader.VerifyAllAsync();
    }

    [Test]
    public async Task Resume_from_an_incremental_checkpoint_ends_bit_identical_to_a_straight_run()
    {
        await TrainAsync(until: 6, every: 2);
        var (result, hash) = await ResumeAndFinishAsync();
        Assert.That(result.Step, Is.EqualTo(6));
        Assert.That(hash, Is.EqualTo(Straight()));
    }

    [Test]
    public async Task A_version_1_checkpoint_still_loads_and_an_incremental_run_continues_from_it()
    {
        await TrainAsync(until: 2, every: 2, o => o.Incremental = false);
        Assert.That((await CheckpointReader.OpenAsync(_store, "test", 2)).Manifest.SchemaVersion, Is.EqualTo(CheckpointManifest.ShardedSchemaVersion));

        using (var job = new FrozenBaseTraining(initSeed: 5))
        await using (var ckpt = job.Attach(FrozenBaseTraining.NewCheckpointer(_store)))
        {
            Assert.That((await ckpt.ResumeAsync()).Step, Is.EqualTo(2));
            for (long step = 3; step <= 4; step++)
            {
                job.TrainStep();
                ckpt.Step(step);
            }
            var written = await ckpt.CheckpointAsync();
            Assert.That(written!.BytesReused, Is.Zero, "nothing of a version-1 checkpoint is shared");
        }
        var (result, hash) = await ResumeAndFinishAsync();
        Assert.That(result.Step, Is.EqualTo(4));
        Assert.That(hash, Is.EqualTo(Straight()));
    }

    [Test]
    public async Task Full_checkpoint_every_k_rewrites_every_chunk()
    {
        var results = await TrainAsync(until: 6, every: 2, o => o.FullCheckpointEvery = 2);
        Assert.That(results.Select(r => r.BytesReused > 0), Is.EqualTo(new[] { false, false, true }));
        var full = await CheckpointReader.OpenAsync(_store, "test", 4);
        Assert.That(full.Manifest.Packs!.Select(p => p.Step).Distinct(), Is.EqualTo(new long[] { 4 }), "an independent copy");
    }

    [Test]
    public async Task An_emergency_checkpoint_writes_only_the_delta_even_when_a_full_checkpoint_is_due()
    {
        // Every checkpoint is full (FullCheckpointEvery = 1), but the notice window is no time for one.
        using var job = new FrozenBaseTraining();
        await using var ckpt = job.Attach(FrozenBaseTraining.NewCheckpointer(_store, o => o.FullCheckpointEvery = 1));
        job.TrainStep();
        ckpt.Step(1);
        var first = (await ckpt.CheckpointAsync())!;
        job.TrainStep();
        ckpt.Notices.RequestTermination("test", TimeSpan.FromSeconds(30));
        Assert.That(ckpt.Step(2), Is.True, "the emergency snapshot is taken at the step boundary");
        var emergency = await ckpt.EmergencyCheckpoint!;
        Assert.That(first.BytesReused, Is.Zero);
        Assert.That(emergency.Checkpoint!.Step, Is.EqualTo(2));
        Assert.That(emergency.Checkpoint.BytesReused, Is.GreaterThanOrEqualTo(FrozenBaseTraining.BaseBytes), "the frozen base is referenced, not written again");
    }

    [Test]
    public async Task Damage_to_a_chunk_only_the_newest_checkpoint_holds_falls_back_to_the_previous_one()
    {
        await TrainAsync(until: 6, every: 2);
        FlipByte(Packs(6).Single(), 40);
        var (result, hash) = await ResumeAndFinishAsync();
        Assert.That(result.Step, Is.EqualTo(4));
        var skipped = (CheckpointCorruptException)result.SkippedCheckpoints.Single();
        Assert.That(skipped.Chunk, Has.Length.EqualTo(32), "the damaged chunk is named");
        Assert.That(hash, Is.EqualTo(Straight()));
    }

    [Test]
    public async Task Damage_to_a_chunk_every_checkpoint_shares_fails_with_a_typed_error_naming_the_chunk()
    {
        await TrainAsync(until: 6, every: 2);
        FlipByte(Packs(2).Single(), 100); // the first chunk of the frozen base, referenced by all three
        var ex = Assert.ThrowsAsync<NoUsableCheckpointException>(async () => await ResumeAndFinishAsync());
        var chunks = ex!.Failures.Cast<CheckpointCorruptException>().Select(f => f.Chunk).ToList();
        Assert.That(chunks, Has.Count.EqualTo(3));
        Assert.That(chunks.Distinct().Single(), Has.Length.EqualTo(32));
        Assert.That(ex.Failures[0].Message, Does.Contain(chunks[0]));
    }

    [Test]
    public async Task With_full_checkpoints_damage_to_a_shared_chunk_falls_back_to_an_independent_copy()
    {
        // FullCheckpointEvery = 2: step 2 (nothing to reuse) and step 4 are full, step 6 reuses step 4's packs.
        await TrainAsync(until: 6, every: 2, o => o.FullCheckpointEvery = 2);
        FlipByte(Packs(4).Single(), 100);
        using var job = new FrozenBaseTraining(initSeed: 99);
        await using var ckpt = job.Attach(FrozenBaseTraining.NewCheckpointer(_store));
        var result = await ckpt.ResumeAsync();
        Assert.That(result.Step, Is.EqualTo(2), "the full checkpoint at step 2 shares nothing with the damaged pack");
        var skipped = result.SkippedCheckpoints.Cast<CheckpointCorruptException>().ToList();
        Assert.That(skipped, Has.Count.EqualTo(2));
        Assert.That(skipped.Select(s => s.Chunk).Distinct().Single(), Has.Length.EqualTo(32), "both name the same chunk");
    }

    [Test]
    public async Task Retention_removes_only_chunks_no_kept_checkpoint_references()
    {
        await TrainAsync(until: 10, every: 2, o => o.KeepLast = 2);
        Assert.That(Directory.GetFiles(ChunksDir), Has.Length.EqualTo(5), "the packs of deleted checkpoints wait for the incomplete-upload age");
        foreach (var file in Directory.GetFiles(ChunksDir)) File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddHours(-2));
        await CheckpointCatalog.ApplyRetentionAsync(_store, "test", keepLast: 2, incompleteMaxAge: TimeSpan.FromHours(1));
        var kept = await CheckpointCatalog.ListAsync(_store, "test");
        Assert.That(kept.Select(l => l.Step), Is.EqualTo(new long[] { 10, 8 }));
        var referenced = new HashSet<string>();
        foreach (var listing in kept)
        {
            var reader = await CheckpointReader.OpenAsync(_store, "test", listing.Step);
            await reader.VerifyAllAsync();
            foreach (var p in reader.Manifest.Packs!) referenced.Add(p.File);
        }
        var stored = Directory.GetFiles(ChunksDir).Select(Path.GetFileName).ToHashSet();
        Assert.That(stored, Is.EquivalentTo(referenced), "the base's pack from step 2 stays; the head packs of steps 4 and 6 are gone");
        Assert.That(stored.Any(f => f!.StartsWith("00000002-", StringComparison.Ordinal)), Is.True);
    }

    [Test]
    public async Task The_collector_spares_a_concurrent_writers_young_pack_and_removes_an_old_unreferenced_one()
    {
        await TrainAsync(until: 2, every: 2);
        var young = StoreKeys.PackKey("test", StoreKeys.PackFileName(3, "0badc0de", 0));
        var old = StoreKeys.PackKey("test", StoreKeys.PackFileName(1, "0ddba11e", 0));
        foreach (var key in new[] { young, old })
        {
            await using var w = await _store.OpenWriteAsync(key);
            await w.WriteAsync(new byte[64]);
            await w.CompleteAsync();
        }
        File.SetLastWriteTimeUtc(Path.Combine(_dir.Path, old), DateTime.UtcNow.AddHours(-2));

        int removed = await CheckpointCatalog.ApplyRetentionAsync(_store, "test", keepLast: 1, incompleteMaxAge: TimeSpan.FromHours(1));

        Assert.That(removed, Is.EqualTo(1));
        Assert.That(await _store.GetLengthAsync(young), Is.EqualTo(64), "a writer whose manifest is not written yet keeps its chunks");
        Assert.That(await _store.GetLengthAsync(old), Is.Null);
        await (await CheckpointReader.OpenAsync(_store, "test", 2)).VerifyAllAsync();
    }

    [Test]
    public async Task An_incremental_checkpoint_exports_to_a_plain_safetensors_file_and_loads_into_a_model()
    {
        await TrainAsync(until: 4, every: 2);
        var file = Path.Combine(_dir.Path, "weights.safetensors");
        var result = await SpotCheckpoint.Export.CheckpointExport.ExportWeightsAsync(_store, "test", file, SpotCheckpoint.Export.WeightsFormat.Safetensors, step: 4);
        Assert.That(new FileInfo(file).Length, Is.GreaterThan(FrozenBaseTraining.BaseBytes));

        using var trained = new FrozenBaseTraining();
        using var fresh = new FrozenBaseTraining(initSeed: 3);
        long step = await SpotCheckpoint.Export.CheckpointExport.LoadWeightsAsync(_store, "test", fresh.Model, step: 4);
        Assert.That(step, Is.EqualTo(4));
        var reader = await CheckpointReader.OpenAsync(_store, "test", 4);
        var baseWeight = await reader.ReadTensorBytesAsync(reader.Manifest.Tensors.Single(t => t.Name == "model/base.weight"));
        Assert.That(fresh.Model.state_dict()["base.weight"].bytes.ToArray(), Is.EqualTo(baseWeight), "the frozen weight, assembled from its chunks");
    }

    private static void FlipByte(string path, long offset)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        f.Position = offset;
        int b = f.ReadByte();
        f.Position = offset;
        f.WriteByte((byte)(b ^ 0x01));
    }
}
