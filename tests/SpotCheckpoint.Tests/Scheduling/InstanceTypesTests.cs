using SpotCheckpoint.Scheduling;

namespace SpotCheckpoint.Tests.Scheduling;

public class InstanceTypesTests
{
    [TestCase("p5.48xlarge", GpuFamily.H100)]
    [TestCase("p5e.48xlarge", GpuFamily.H200)]
    [TestCase("p5en.48xlarge", GpuFamily.H200)]
    [TestCase("p4d.24xlarge", GpuFamily.A100)]
    [TestCase("p4de.24xlarge", GpuFamily.A100)]
    [TestCase("p3.2xlarge", GpuFamily.V100)]
    [TestCase("p3dn.24xlarge", GpuFamily.V100)]
    [TestCase("g5.xlarge", GpuFamily.A10G)]
    [TestCase("g6.xlarge", GpuFamily.L4)]
    [TestCase("g6e.12xlarge", GpuFamily.L40S)]
    [TestCase("g4dn.xlarge", GpuFamily.T4)]
    [TestCase("p6-b200.48xlarge", GpuFamily.B200)]
    [TestCase("a3-highgpu-8g", GpuFamily.H100)]
    [TestCase("a3-megagpu-8g", GpuFamily.H100)]
    [TestCase("a3-ultragpu-8g", GpuFamily.H200)]
    [TestCase("a2-highgpu-1g", GpuFamily.A100)]
    [TestCase("a2-ultragpu-8g", GpuFamily.A100)]
    [TestCase("g2-standard-8", GpuFamily.L4)]
    [TestCase("projects/123456/zones/us-central1-a/machineTypes/a3-highgpu-8g", GpuFamily.H100)]
    [TestCase("Standard_ND96isr_H100_v5", GpuFamily.H100)]
    [TestCase("Standard_ND96isr_H200_v5", GpuFamily.H200)]
    [TestCase("Standard_NC40ads_H100_v5", GpuFamily.H100)]
    [TestCase("Standard_ND96asr_v4", GpuFamily.A100)]
    [TestCase("Standard_ND96amsr_A100_v4", GpuFamily.A100)]
    [TestCase("Standard_NC24ads_A100_v4", GpuFamily.A100)]
    [TestCase("Standard_NC6s_v3", GpuFamily.V100)]
    [TestCase("Standard_NC24rs_v3", GpuFamily.V100)]
    [TestCase("Standard_ND40rs_v2", GpuFamily.V100)]
    [TestCase("Standard_NC4as_T4_v3", GpuFamily.T4)]
    [TestCase(" P5.48XLARGE ", GpuFamily.H100)]
    public void Known_instance_types_map_to_their_gpu(string instanceType, GpuFamily expected) =>
        Assert.That(InstanceTypes.GpuFamilyOf(instanceType), Is.EqualTo(expected));

    [TestCase("m5.large")]
    [TestCase("n1-standard-8")]
    [TestCase("Standard_D4s_v5")]
    [TestCase("")]
    [TestCase(null)]
    public void Other_names_are_unknown(string? instanceType) =>
        Assert.That(InstanceTypes.GpuFamilyOf(instanceType), Is.EqualTo(GpuFamily.Unknown));
}
