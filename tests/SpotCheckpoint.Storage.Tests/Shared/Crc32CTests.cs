extern alias s3;
using Crc = s3::SpotCheckpoint.Storage.Crc32C;

namespace SpotCheckpoint.Storage.Tests.Shared;

/// <summary>
/// Every CRC-32C path against the table. The SSE4.2 path runs on x64 machines; the ARM64 path (Graviton, Grace) only
/// on ARM64 — on any other CPU its case is reported inconclusive with the reason, never passed silently.
/// </summary>
public sealed class Crc32CTests
{
    private static readonly int[] Lengths = [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 4095, 4096, 4097, 1 << 20];

    [TestCase("Sse42")]
    [TestCase("Arm64")]
    public void A_hardware_path_equals_the_table_for_every_length_and_alignment(string name)
    {
        var path = Enum.Parse<Crc.Implementation>(name);
        if (!Crc.IsSupported(path)) Assert.Inconclusive($"This CPU has no {path} CRC32C instruction; the path runs on {(path == Crc.Implementation.Arm64 ? "ARM64" : "x64")} only.");
        var data = new byte[(1 << 20) + 16];
        new Random(7).NextBytes(data);
        foreach (var length in Lengths)
        {
            for (int offset = 0; offset < 8; offset++)
            {
                var span = data.AsSpan(offset, length);
                Assert.That(Crc.Compute(span, path), Is.EqualTo(Crc.Compute(span, Crc.Implementation.Table)), $"{length} bytes at offset {offset}");
            }
        }
    }

    [Test]
    public void The_table_matches_the_standard_check_value_and_the_best_path_is_used()
    {
        // The CRC-32C check value of "123456789" (RFC 3720, appendix B.4).
        Assert.That(Crc.Compute("123456789"u8, Crc.Implementation.Table), Is.EqualTo(0xE3069283u));
        Assert.That(Crc.Compute("123456789"u8), Is.EqualTo(0xE3069283u));
        Assert.That(Crc.IsSupported(Crc.Best), Is.True);
        if (System.Runtime.Intrinsics.X86.Sse42.X64.IsSupported) Assert.That(Crc.Best, Is.EqualTo(Crc.Implementation.Sse42));
        if (System.Runtime.Intrinsics.Arm.Crc32.Arm64.IsSupported) Assert.That(Crc.Best, Is.EqualTo(Crc.Implementation.Arm64));
    }

    [Test]
    public void Incremental_appends_equal_one_computation()
    {
        var data = new byte[10_000];
        new Random(3).NextBytes(data);
        var crc = new Crc();
        crc.Append(data.AsSpan(0, 3));
        crc.Append(data.AsSpan(3, 5000));
        crc.Append(data.AsSpan(5003));
        Assert.That(crc.Value, Is.EqualTo(Crc.Compute(data, Crc.Implementation.Table)));
    }
}
