extern alias s3;
using Limits = s3::SpotCheckpoint.Storage.PartLimits;
using Plan = s3::SpotCheckpoint.Storage.PartPlan;

namespace SpotCheckpoint.Storage.Tests.Shared;

/// <summary>Part sizes are chosen from the object's length before anything is sent, or the upload is refused at once.</summary>
public sealed class PartPlanTests
{
    private const long GiB = 1L << 30;
    private const long TiB = 1L << 40;

    [Test]
    public void The_configured_size_stands_while_the_object_fits_the_part_count()
    {
        Assert.That(Plan.Choose("k", 0, 16 << 20, Limits.S3), Is.EqualTo(16 << 20));
        Assert.That(Plan.Choose("k", 10_000L * (16 << 20), 16 << 20, Limits.S3), Is.EqualTo(16 << 20), "exactly 10,000 parts");
    }

    [Test]
    public void A_larger_object_gets_the_smallest_whole_MiB_part_that_fits()
    {
        long length = 10_000L * (16 << 20) + 1; // one byte over 10,000 parts of 16 MiB
        int part = Plan.Choose("k", length, 16 << 20, Limits.S3);
        Assert.That(part, Is.EqualTo(17 << 20));
        Assert.That(Plan.Parts(length, part), Is.LessThanOrEqualTo(10_000));
        long tb = 5 * TiB;
        int big = Plan.Choose("k", tb, 16 << 20, Limits.S3);
        Assert.That(Plan.Parts(tb, big), Is.LessThanOrEqualTo(10_000));
        Assert.That(big % (1 << 20), Is.Zero);
    }

    [Test]
    public void Azure_allows_fifty_thousand_blocks()
    {
        Assert.That(Plan.Choose("k", 50_000L * (8 << 20), 8 << 20, Limits.AzureBlob), Is.EqualTo(8 << 20));
        int block = Plan.Choose("k", 50_000L * (8 << 20) + 1, 8 << 20, Limits.AzureBlob);
        Assert.That(block, Is.EqualTo(9 << 20));
        Assert.That(Plan.Parts(10 * TiB, Plan.Choose("k", 10 * TiB, 8 << 20, Limits.AzureBlob)), Is.LessThanOrEqualTo(50_000));
    }

    [Test]
    public void Objects_no_part_size_can_hold_are_refused_with_the_limit_named()
    {
        var s3 = Assert.Throws<CheckpointStoreException>(() => Plan.Choose("run/shard", 5 * TiB + 1, 16 << 20, Limits.S3));
        Assert.That(s3!.Message, Does.Contain("run/shard").And.Contain("S3").And.Contain("MaxShardBytes"));
        var az = Assert.Throws<CheckpointStoreException>(() => Plan.Choose("run/shard", 50_000 * GiB + 1, 8 << 20, Limits.AzureBlob));
        Assert.That(az!.Message, Does.Contain("50000 parts"));
    }
}
