using System.Security.Cryptography;
using System.Text;
using SpotCheckpoint.Format;
using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Format;

public class ManifestCodecTests
{
    private const string RunId = "demo-run";
    private const long Step = 37;
    private static readonly string Key = StoreKeys.ManifestKey(RunId, Step);

    private const string ShardName = "shard-00000.0123abcd.safetensors";

    /// <summary>
    /// A consistent manifest: one shard of 88 bytes whose data starts at 64, holding "model/a" (F32 [2,2], bytes
    /// 64..80) and "model/b" (I64 [1], bytes 80..88).
    /// </summary>
    private static CheckpointManifest ValidManifest() => new()
    {
        RunId = RunId,
        Step = Step,
        Epoch = 3,
        CreatedUtc = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero),
        Writer = new() { ["spotcheckpoint"] = "0.1.0", ["torchsharp"] = "0.107.0" },
        Shards =
        {
            new ShardEntry { File = ShardName, Bytes = 88, DataOffset = 64, HeaderXxh3 = "0123456789abcdef" },
        },
        Tensors =
        {
            new TensorEntry { Name = "model/a", Dtype = "F32", Shape = [2, 2], Shard = 0, Offset = 64, Bytes = 16, Xxh3 = "00000000000000aa" },
            new TensorEntry { Name = "model/b", Dtype = "I64", Shape = [1], Shard = 0, Offset = 80, Bytes = 8, Xxh3 = "00000000000000bb" },
        },
        Modules = { new ModuleEntry { Name = "model", Tensors = { "a", "b" } } },
        Optimizers =
        {
            new OptimizerEntry
            {
                Name = "opt",
                Type = "AdamW",
                ParamGroups =
                {
                    new ParamGroupEntry
                    {
                        Options = { ["lr"] = 1e-3, ["weight_decay"] = 0.01, ["nan_test"] = double.NaN },
                        Parameters = { new ParamStateEntry { Parameter = "model/a", Step = 12, Tensors = { ["exp_avg"] = "model/b" } } },
                    },
                },
            },
        },
        Schedulers =
        {
            new SchedulerEntry { Name = "sched", Type = "StepLR", LastEpoch = 4, StepCount = 5, LastLrs = { 0.5 }, BaseLrs = { 1.0 }, Extra = { ["best"] = double.PositiveInfinity } },
        },
        Rng = new RngEntry { CpuStateTensor = "model/b", CudaSeed = 1234 },
        UserState = { ["blob"] = [0, 1, 2, 255] },
    };

    private static CheckpointManifest Decode(byte[] content, string runId = RunId, long step = Step) =>
        ManifestCodec.Decode(content, Key, runId, step);

    /// <summary>Decoding must fail with <see cref="CheckpointCorruptException"/> for <see cref="Key"/>; returns it.</summary>
    private static CheckpointCorruptException DecodeFails(byte[] content, string runId = RunId, long step = Step)
    {
        var ex = Assert.Throws<CheckpointCorruptException>(() => Decode(content, runId, step));
        Assert.That(ex!.ObjectName, Is.EqualTo(Key));
        Assert.That(ex.Message, Does.Contain(ex.Problem));
        return ex;
    }

    /// <summary>Wraps an arbitrary body with a correct checksum, the way a careful attacker would.</summary>
    private static byte[] WrapWithValidChecksum(string bodyJson)
    {
        var body = Encoding.UTF8.GetBytes(bodyJson);
        var hash = Convert.ToHexString(SHA256.HashData(body)).ToLowerInvariant();
        return Encoding.UTF8.GetBytes($"{{\"manifestSha256\":\"{hash}\",\"manifest\":{bodyJson}}}");
    }

    /// <summary>The [start, end) range of the "manifest" value inside an encoded manifest.</summary>
    private static (int Start, int End) BodyRange(byte[] encoded)
    {
        var marker = "\"manifest\":"u8;
        int start = encoded.AsSpan().IndexOf(marker) + marker.Length;
        int end = encoded.AsSpan().LastIndexOf((byte)'}'); // the closing brace of the outer object
        Assert.That(start, Is.GreaterThan(marker.Length));
        Assert.That(end, Is.GreaterThan(start));
        return (start, end);
    }

    [Test]
    public void Encode_then_decode_gives_back_every_field()
    {
        var original = ValidManifest();
        var decoded = Decode(ManifestCodec.Encode(original));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(decoded.Format, Is.EqualTo("spotcheckpoint"));
            Assert.That(decoded.SchemaVersion, Is.EqualTo(CheckpointManifest.ShardedSchemaVersion));
            Assert.That(decoded.RunId, Is.EqualTo(RunId));
            Assert.That(decoded.Step, Is.EqualTo(Step));
            Assert.That(decoded.Epoch, Is.EqualTo(3));
            Assert.That(decoded.CreatedUtc, Is.EqualTo(original.CreatedUtc));
            Assert.That(decoded.Writer, Is.EquivalentTo(original.Writer));

            Assert.That(decoded.Shards, Has.Count.EqualTo(1));
            Assert.That(decoded.Shards[0].File, Is.EqualTo(ShardName));
            Assert.That(decoded.Shards[0].Bytes, Is.EqualTo(88));
            Assert.That(decoded.Shards[0].DataOffset, Is.EqualTo(64));
            Assert.That(decoded.Shards[0].HeaderXxh3, Is.EqualTo("0123456789abcdef"));

            Assert.That(decoded.Tensors.Select(t => (t.Name, t.Dtype, string.Join(",", t.Shape), t.Shard, t.Offset, t.Bytes, t.Xxh3)),
                Is.EqualTo(original.Tensors.Select(t => (t.Name, t.Dtype, string.Join(",", t.Shape), t.Shard, t.Offset, t.Bytes, t.Xxh3))));

            Assert.That(decoded.Modules.Single().Name, Is.EqualTo("model"));
            Assert.That(decoded.Modules.Single().Tensors, Is.EqualTo(new[] { "a", "b" }));

            var opt = decoded.Optimizers.Single();
            Assert.That(opt.Name, Is.EqualTo("opt"));
            Assert.That(opt.Type, Is.EqualTo("AdamW"));
            var group = opt.ParamGroups.Single();
            Assert.That(group.Options["lr"], Is.EqualTo(1e-3));
            Assert.That(group.Options["weight_decay"], Is.EqualTo(0.01));
            Assert.That(group.Options["nan_test"], Is.NaN);
            Assert.That(group.Parameters.Single().Parameter, Is.EqualTo("model/a"));
            Assert.That(group.Parameters.Single().Step, Is.EqualTo(12));
            Assert.That(group.Parameters.Single().Tensors["exp_avg"], Is.EqualTo("model/b"));

            var sched = decoded.Schedulers.Single();
            Assert.That((sched.Name, sched.Type, sched.LastEpoch, sched.StepCount), Is.EqualTo(("sched", "StepLR", 4, 5)));
            Assert.That(sched.LastLrs, Is.EqualTo(new[] { 0.5 }));
            Assert.That(sched.BaseLrs, Is.EqualTo(new[] { 1.0 }));
            Assert.That(sched.Extra["best"], Is.EqualTo(double.PositiveInfinity));

            Assert.That(decoded.Rng, Is.Not.Null);
            Assert.That(decoded.Rng!.CpuStateTensor, Is.EqualTo("model/b"));
            Assert.That(decoded.Rng.CudaSeed, Is.EqualTo(1234));
            Assert.That(decoded.UserState["blob"], Is.EqualTo(new byte[] { 0, 1, 2, 255 }));
        }
    }

    [Test]
    public void Encoding_is_deterministic_and_decodes_again_after_a_round_trip()
    {
        var first = ManifestCodec.Encode(ValidManifest());
        var again = ManifestCodec.Encode(Decode(first));
        Assert.That(again, Is.EqualTo(first));
    }

    [Test]
    public void Every_single_changed_byte_in_the_manifest_body_is_detected()
    {
        var encoded = ManifestCodec.Encode(ValidManifest());
        var (start, end) = BodyRange(encoded);
        byte[] flips = [0x01, 0x20, 0x80];
        int checkedPositions = 0;
        for (int i = start; i < end; i++)
        {
            foreach (var flip in flips)
            {
                var damaged = (byte[])encoded.Clone();
                damaged[i] ^= flip;
                Assert.That(() => Decode(damaged), Throws.TypeOf<CheckpointCorruptException>(),
                    $"byte {i} ('{(char)encoded[i]}') XOR 0x{flip:x2} was accepted");
            }
            checkedPositions++;
        }
        Assert.That(checkedPositions, Is.GreaterThan(500), "the body should be the bulk of the manifest");
    }

    private static readonly int ChecksumStart = "{\"manifestSha256\":\""u8.Length;

    [Test]
    public void Every_single_changed_byte_in_the_stored_checksum_is_detected()
    {
        var encoded = ManifestCodec.Encode(ValidManifest());
        Assert.That(Encoding.ASCII.GetString(encoded, 0, ChecksumStart), Is.EqualTo("{\"manifestSha256\":\""));
        for (int i = ChecksumStart; i < ChecksumStart + 64; i++)
        {
            foreach (byte replacement in "0fFg \\{"u8)
            {
                if (encoded[i] == replacement) continue;
                var damaged = (byte[])encoded.Clone();
                damaged[i] = replacement;
                Assert.That(() => Decode(damaged), Throws.TypeOf<CheckpointCorruptException>(),
                    $"checksum byte {i - ChecksumStart} replaced by '{(char)replacement}' was not reported as corruption");
            }
        }
    }

    [Test]
    public void A_checksum_byte_damaged_into_invalid_utf8_is_reported_as_corrupt()
    {
        var encoded = ManifestCodec.Encode(ValidManifest());
        for (int i = ChecksumStart; i <= ChecksumStart + 64; i++) // the 64 hex digits and the closing quote
        {
            foreach (byte flip in new byte[] { 0x80, 0xC0 })
            {
                var damaged = (byte[])encoded.Clone();
                damaged[i] ^= flip;
                Assert.That(() => Decode(damaged), Throws.TypeOf<CheckpointCorruptException>(),
                    $"checksum byte {i - ChecksumStart} XOR 0x{flip:x2} was not reported as corruption");
            }
        }
    }

    [Test]
    public void A_damaged_byte_anywhere_in_the_file_is_either_harmless_or_reported_as_corrupt()
    {
        // Bytes outside the body and checksum (the framing) may be damaged in harmless ways (e.g. the final newline);
        // what must never happen is an exception of another type, which resume would not treat as a bad checkpoint.
        var encoded = ManifestCodec.Encode(ValidManifest());
        for (int i = 0; i < encoded.Length; i++)
        {
            foreach (byte flip in new byte[] { 0x01, 0x20, 0x80, 0xFF })
            {
                // Non-ASCII damage inside the stored checksum is covered (and currently ignored as a known bug) by
                // A_checksum_byte_damaged_into_invalid_utf8_is_reported_as_corrupt.
                if (flip >= 0x80 && i >= ChecksumStart && i <= ChecksumStart + 64) continue; // digits and closing quote
                var damaged = (byte[])encoded.Clone();
                damaged[i] ^= flip;
                try
                {
                    var m = Decode(damaged);
                    Assert.That(ManifestCodec.Encode(m), Is.EqualTo(encoded), $"byte {i} XOR 0x{flip:x2} changed the decoded manifest");
                }
                catch (CheckpointCorruptException)
                {
                }
            }
        }
    }

    [Test]
    public void An_empty_manifest_is_corrupt()
    {
        Assert.That(DecodeFails([]).Problem, Does.Contain("empty"));
    }

    [Test]
    public void A_truncated_manifest_is_corrupt()
    {
        var encoded = ManifestCodec.Encode(ValidManifest());
        foreach (var length in new[] { 1, 10, encoded.Length / 2, encoded.Length - 3 })
            DecodeFails(encoded[..length]);
    }

    [Test]
    public void Garbage_is_corrupt()
    {
        var rng = new Random(42);
        for (int i = 0; i < 50; i++)
        {
            var garbage = new byte[rng.Next(1, 2000)];
            rng.NextBytes(garbage);
            DecodeFails(garbage);
        }
        Assert.That(DecodeFails("not json at all"u8.ToArray()).Problem, Does.Contain("JSON"));
        Assert.That(DecodeFails("{\"manifestSha256\": \"ab"u8.ToArray()).Problem, Does.Contain("not valid JSON"));
    }

    [TestCase("[1,2,3]")]
    [TestCase("\"a string\"")]
    [TestCase("42")]
    [TestCase("null")]
    [TestCase("true")]
    public void A_manifest_that_is_not_a_json_object_is_corrupt(string json)
    {
        Assert.That(DecodeFails(Encoding.UTF8.GetBytes(json)).Problem, Does.Contain("not a JSON object"));
    }

    [Test]
    public void A_manifest_without_its_checksum_is_corrupt()
    {
        var body = Encoding.UTF8.GetString(ManifestCodec.Encode(ValidManifest()));
        var (start, end) = BodyRange(Encoding.UTF8.GetBytes(body));
        var withoutHash = "{\"manifest\":" + body[start..end] + "}";
        Assert.That(DecodeFails(Encoding.UTF8.GetBytes(withoutHash)).Problem, Does.Contain("manifestSha256"));
    }

    [Test]
    public void A_checksum_that_is_not_a_string_is_corrupt()
    {
        var encoded = Encoding.UTF8.GetString(ManifestCodec.Encode(ValidManifest()));
        var (start, end) = BodyRange(Encoding.UTF8.GetBytes(encoded));
        var numeric = "{\"manifestSha256\":12345,\"manifest\":" + encoded[start..end] + "}";
        Assert.That(DecodeFails(Encoding.UTF8.GetBytes(numeric)).Problem, Does.Contain("manifestSha256"));
    }

    [Test]
    public void A_manifest_without_its_body_is_corrupt()
    {
        var hash = Convert.ToHexString(SHA256.HashData([])).ToLowerInvariant();
        Assert.That(DecodeFails(Encoding.UTF8.GetBytes($"{{\"manifestSha256\":\"{hash}\"}}")).Problem, Does.Contain("'manifest'"));
        Assert.That(DecodeFails("{}"u8.ToArray()).Problem, Does.Contain("'manifest'"));
    }

    [TestCase("[]")]
    [TestCase("42")]
    [TestCase("\"text\"")]
    [TestCase("{\"step\":\"not a number\"}")]
    [TestCase("{\"shards\":{}}")]
    public void A_correctly_checksummed_body_that_does_not_follow_the_schema_is_corrupt(string body)
    {
        DecodeFails(WrapWithValidChecksum(body));
    }

    [Test]
    public void A_correctly_checksummed_null_body_is_corrupt()
    {
        DecodeFails(WrapWithValidChecksum("null"));
    }

    [Test]
    public void A_correctly_checksummed_body_missing_run_and_step_is_corrupt()
    {
        // Only the format marker and schema version: whatever it is, it is not step 37 of demo-run.
        var ex = DecodeFails(WrapWithValidChecksum("{\"format\":\"spotcheckpoint\",\"schemaVersion\":1}"));
        Assert.That(ex.Problem, Does.Contain("runId").And.Contain("step"));
    }

    [Test]
    public void An_unknown_format_marker_is_corrupt()
    {
        var m = ValidManifest();
        m.Format = "something-else";
        Assert.That(DecodeFails(ManifestCodec.Encode(m)).Problem, Does.Contain("something-else"));
    }

    [TestCase(3)]
    [TestCase(0)]
    [TestCase(-1)]
    [TestCase(999)]
    public void An_unknown_schema_version_is_corrupt_and_named(int version)
    {
        var m = ValidManifest();
        m.SchemaVersion = version;
        var ex = DecodeFails(ManifestCodec.Encode(m));
        Assert.That(ex.Problem, Does.Contain($"schema version {version}"));
    }

    [Test]
    public void A_manifest_of_another_run_is_corrupt()
    {
        var ex = DecodeFails(ManifestCodec.Encode(ValidManifest()), runId: "other-run");
        Assert.That(ex.Problem, Does.Contain("'demo-run'").And.Contain("'other-run'"));
    }

    [Test]
    public void A_manifest_of_another_step_is_corrupt()
    {
        var ex = DecodeFails(ManifestCodec.Encode(ValidManifest()), step: 38);
        Assert.That(ex.Problem, Does.Contain("37").And.Contain("38"));
    }

    [Test]
    public void The_unmodified_hostile_test_base_is_accepted()
    {
        // Guards the hostile cases below: each fails only because of its own change.
        Assert.That(() => Decode(ManifestCodec.Encode(ValidManifest())), Throws.Nothing);
    }

    [TestCase("shard-00000.0123abcd.safetensors")]
    [TestCase("shard-99999.ffffffff.safetensors")]
    [TestCase("shard-00042.00000000.safetensors")]
    public void Well_formed_shard_names_are_accepted(string name)
    {
        var m = ValidManifest();
        m.Shards[0].File = name;
        Assert.That(Decode(ManifestCodec.Encode(m)).Shards[0].File, Is.EqualTo(name));
    }

    private static IEnumerable<TestCaseData> HostileManifests()
    {
        TestCaseData Case(string name, Action<CheckpointManifest> breakIt, string problem) =>
            new TestCaseData(breakIt, problem).SetArgDisplayNames(name);

        yield return Case("duplicate tensor name", m => m.Tensors[1].Name = "model/a", "'model/a' appears twice");
        yield return Case("empty tensor name", m => m.Tensors[1].Name = "", "no valid name");
        yield return Case("null tensor entry", m => m.Tensors.Add(null!), "no valid name");
        yield return Case("tensor offset inside the header", m => m.Tensors[0].Offset = 8, "'model/a' lies outside");
        yield return Case("negative tensor offset", m => m.Tensors[0].Offset = -16, "'model/a' lies outside");
        yield return Case("tensor running past the shard end", m => m.Tensors[1].Offset = 84, "'model/b' lies outside");
        yield return Case("tensor starting past the shard end", m => m.Tensors[1].Offset = 1L << 40, "'model/b' lies outside");
        yield return Case("offset + length overflowing", m => m.Tensors[1].Offset = long.MaxValue - 4, "'model/b' lies outside");
        yield return Case("overlapping tensors", m => m.Tensors[1].Offset = 72, "overlap");
        yield return Case("identical ranges", m =>
        {
            m.Tensors[1].Dtype = "F32"; m.Tensors[1].Shape = [4]; m.Tensors[1].Bytes = 16; m.Tensors[1].Offset = 64;
        }, "overlap");
        yield return Case("shard index too large", m => m.Tensors[1].Shard = 1, "names shard 1, which does not exist");
        yield return Case("negative shard index", m => m.Tensors[1].Shard = -1, "names shard -1, which does not exist");
        yield return Case("tensors but no shards", m => m.Shards.Clear(), "which does not exist");
        yield return Case("shard of 2^62 bytes", m => m.Shards[0].Bytes = 1L << 62, "absurd size");
        yield return Case("shard of negative size", m => m.Shards[0].Bytes = -88, "absurd size");
        yield return Case("data offset past the shard", m => m.Shards[0].DataOffset = 89, "invalid data offset");
        yield return Case("data offset inside the length prefix", m => m.Shards[0].DataOffset = 4, "invalid data offset");
        yield return Case("data offset beyond 100 MiB", m => { m.Shards[0].Bytes = 1L << 49; m.Shards[0].DataOffset = 1L << 48; }, "invalid data offset");
        yield return Case("missing header checksum", m => m.Shards[0].HeaderXxh3 = "", "lacks a header checksum");
        yield return Case("null shard entry", m => m.Shards.Add(null!), "shard 1 has an invalid file name");
        yield return Case("tensor of 2^62 bytes (one dimension)", m =>
        {
            m.Tensors[1].Dtype = "U8"; m.Tensors[1].Shape = [1L << 62]; m.Tensors[1].Bytes = 1L << 62;
        }, "'model/b' has an invalid dimension");
        yield return Case("tensor of 2^62 bytes (two dimensions)", m =>
        {
            m.Tensors[1].Dtype = "U8"; m.Tensors[1].Shape = [1L << 31, 1L << 31]; m.Tensors[1].Bytes = 1L << 62;
        }, "'model/b' lies outside");
        yield return Case("shape whose element count overflows", m =>
        {
            m.Tensors[1].Shape = [1L << 40, 1L << 40]; m.Tensors[1].Bytes = 8;
        }, "'model/b' has an absurd shape");
        yield return Case("shape whose byte count overflows", m =>
        {
            m.Tensors[1].Shape = [1L << 31, 1L << 30]; m.Tensors[1].Bytes = 8;
        }, "'model/b' has an absurd shape");
        yield return Case("negative dimensions", m => m.Tensors[0].Shape = [-2, -2], "'model/a' has an invalid dimension -2");
        yield return Case("too many dimensions", m => m.Tensors[0].Shape = Enumerable.Repeat(1L, 33).ToArray(), "'model/a' has an invalid shape");
        yield return Case("bytes smaller than shape x dtype", m => m.Tensors[0].Bytes = 12, "'model/a' records 12 bytes but its shape and dtype need 16");
        yield return Case("bytes larger than shape x dtype", m => m.Tensors[0].Bytes = 24, "records 24 bytes but its shape and dtype need 16");
        yield return Case("dtype changed under the same bytes", m => m.Tensors[0].Dtype = "F64", "records 16 bytes but its shape and dtype need 32");
        yield return Case("unknown dtype", m => m.Tensors[0].Dtype = "F8", "'model/a' has unknown dtype 'F8'");
        yield return Case("lower-case dtype", m => m.Tensors[0].Dtype = "f32", "unknown dtype 'f32'");
        yield return Case("empty dtype", m => m.Tensors[0].Dtype = "", "unknown dtype");
        yield return Case("missing tensor checksum", m => m.Tensors[0].Xxh3 = "abc", "'model/a' lacks a checksum");
        yield return Case("two shards with one name", m =>
            m.Shards.Add(new ShardEntry { File = ShardName, Bytes = 88, DataOffset = 64, HeaderXxh3 = "0123456789abcdef" }), "share a file name");

        foreach (var bad in new[]
                 {
                     "../x", "/etc/passwd", "a/b", "..", ".", "", "x",
                     "../shard-00000.0123abcd.safetensors",
                     "sub/shard-00000.0123abcd.safetensors",
                     "shard-00000.0123abcd.safetensors/../../../etc/passwd",
                     "..\\shard-00000.0123abcd.safetensors",
                     "C:shard-00000.0123abcd.safetensors",
                     "shard-0000.0123abcd.safetensors",
                     "shard-000000.0123abcd.safetensors",
                     "shard-00000.0123ABCD.safetensors",
                     "shard-00000.0123abc.safetensors",
                     "shard-00000.0123abcd.safetensors.partial",
                     "shard-00000.0123abcd.safetensors\0",
                     "xshard-00000.0123abcd.safetensors",
                     "manifest.json",
                 })
        {
            var shown = bad.Replace("\0", "\\0", StringComparison.Ordinal);
            yield return Case($"shard file name \"{shown}\"", m => m.Shards[0].File = bad, "shard 0 has an invalid file name");
        }
    }

    [TestCaseSource(nameof(HostileManifests))]
    public void A_hostile_but_correctly_checksummed_manifest_is_corrupt_and_the_problem_named(Action<CheckpointManifest> breakIt, string problem)
    {
        var m = ValidManifest();
        breakIt(m);
        var ex = DecodeFails(ManifestCodec.Encode(m));
        Assert.That(ex.Problem, Does.Contain(problem));
        Assert.That(ex.Message, Does.Contain(problem));
    }

    [Test]
    public void A_shard_file_name_with_a_trailing_newline_is_corrupt()
    {
        // .NET's '$' also matches before a final '\n': the name would pass validation and only fail later with an
        // ArgumentException from the store's key check, which resume does not treat as a damaged checkpoint.
        var m = ValidManifest();
        m.Shards[0].File = ShardName + "\n";
        var ex = DecodeFails(ManifestCodec.Encode(m));
        Assert.That(ex.Problem, Does.Contain("invalid file name"));
    }
}
