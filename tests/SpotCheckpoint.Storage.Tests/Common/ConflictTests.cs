using SpotCheckpoint.Format;
using SpotCheckpoint.Storage.Tests.Emulators;
using SpotCheckpoint.Storage.Tests.Proxy;

namespace SpotCheckpoint.Storage.Tests.Common;

/// <summary>
/// Two writers of the same step: the one that loses the conditional commit gets <see cref="CheckpointConflictException"/>,
/// its shards are removed, and the winner's checkpoint stays intact. Azurite refuses the second create itself; s3rver
/// and the GCS emulator ignore the precondition, so the proxy answers 412 as S3 and GCS would.
/// </summary>
[TestFixture(Provider.S3)]
[TestFixture(Provider.Gcs)]
[TestFixture(Provider.AzureBlob)]
public sealed class ConflictTests(Provider provider)
{
    [Test]
    public async Task The_writer_that_loses_the_commit_gets_a_conflict_and_the_winner_stays_intact()
    {
        var prefix = TestStores.UniquePrefix("conflict");
        await using var proxy = await FaultProxy.StartAsync(TestStores.Upstream(provider));
        await using var direct = TestStores.Create(provider, prefix);
        await using var viaProxy = TestStores.Create(provider, prefix, proxy.Address.ToString());

        using var winnerModel = TestModels.Create(megabytes: 2, seed: 6);
        using var loserModel = TestModels.Create(megabytes: 2, seed: 7);
        await using var winner = TestModels.Checkpointer(direct, winnerModel);
        await using var loser = TestModels.Checkpointer(viaProxy, loserModel);

        winner.Step(5);
        loser.Step(5);
        if (provider == Provider.AzureBlob)
        {
            // Azurite refuses the second If-None-Match: * create itself.
            await winner.CheckpointAsync();
            Assert.ThrowsAsync<CheckpointConflictException>(async () => await loser.CheckpointAsync());
        }
        else
        {
            // The race S3 and GCS settle with 412: the loser's conditional create is refused although its look
            // found no manifest (the proxy answers as the store would), then the winner's commit lands.
            proxy.Plan.RefuseConditionalCreates = 1;
            Assert.ThrowsAsync<CheckpointConflictException>(async () => await loser.CheckpointAsync());
            Assert.That(proxy.Plan.Refused, Is.EqualTo(1));
            await winner.CheckpointAsync();
        }

        var reader = await CheckpointReader.OpenAsync(direct, "run", 5);
        await reader.VerifyAllAsync();
        var keys = new List<string>();
        await foreach (var o in direct.ListAsync("run/step-00000005/")) keys.Add(o.Key);
        var named = reader.Manifest.Shards.Select((_, i) => reader.ShardKey(i)).Append(StoreKeys.ManifestKey("run", 5));
        Assert.That(keys, Is.EquivalentTo(named), "the loser's shards were removed");
        using var check = TestModels.Create(megabytes: 2, seed: 8);
        await using var restorer = TestModels.Checkpointer(direct, check);
        await restorer.ResumeAsync();
        Assert.That(restorer.ComputeStateSha256(), Is.EqualTo(winner.ComputeStateSha256()));
    }
}
