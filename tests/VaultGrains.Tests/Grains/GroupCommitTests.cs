using VaultGrains.Domain;
using VaultGrains.Tests.Infrastructure;
using Storage = VaultGrains.Tests.Infrastructure.FaultInjectingVaultLogStore;

namespace VaultGrains.Tests.Grains;

/// <summary>
/// Group commit in the vault grain: changes that arrive while a write is in flight are validated
/// at once, written together in one further write, and acknowledged only after it succeeded.
/// </summary>
[Collection(nameof(VaultClusterCollection))]
public sealed class GroupCommitTests(VaultClusterFixture fixture)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Creates_arriving_during_a_write_share_the_next_write_and_are_acknowledged_after_it()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync("Hot");
        var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);
        Assert.True((await vault.CreateSecret(organizationId, Secret("COMMITTED"))).Succeeded);

        Storage.HoldWrites(vaultId);
        try
        {
            var writesBefore = Storage.WriteCount(vaultId);
            var inFlight = vault.CreateSecret(organizationId, Secret("IN_FLIGHT"));
            await Storage.WriteArrived(vaultId).WaitAsync(Patience);
            var queued = Enumerable.Range(0, 20).Select(i => vault.CreateSecret(organizationId, Secret($"QUEUED_{i}"))).ToArray();
            await WaitForPendingSecretsAsync(vault, organizationId, 2 + queued.Length);

            // A duplicate of a committed env_key is refused on arrival. A duplicate of one that is
            // only in a write (in flight or queued) waits for that write's outcome: had it failed,
            // "already exists" would have been false.
            var committedDuplicate = await vault.CreateSecret(organizationId, Secret("COMMITTED")).WaitAsync(Patience);
            Assert.Equal(VaultError.EnvKeyExists, committedDuplicate.Error);
            var pendingDuplicates = new[] { "IN_FLIGHT", "QUEUED_7" }.Select(envKey => vault.CreateSecret(organizationId, Secret(envKey))).ToArray();
            await Task.Delay(200);
            Assert.All(pendingDuplicates, reply => Assert.False(reply.IsCompleted, "a duplicate of an unwritten key was answered before the write"));
            Assert.False(inFlight.IsCompleted, "acknowledged before its write finished");
            Assert.All(queued, reply => Assert.False(reply.IsCompleted, "acknowledged before its write started"));
            Assert.Equal(["COMMITTED"], (await vault.ListSecrets(organizationId)).Value!.Select(s => s.EnvKey));

            Storage.ReleaseWrites(vaultId);
            var replies = await Task.WhenAll(queued.Prepend(inFlight)).WaitAsync(Patience);

            Assert.All(replies, reply => Assert.True(reply.Succeeded, reply.Error.ToString()));
            Assert.All(await Task.WhenAll(pendingDuplicates).WaitAsync(Patience), reply => Assert.Equal(VaultError.EnvKeyExists, reply.Error));
            Assert.Equal(writesBefore + 2, Storage.WriteCount(vaultId));
        }
        finally
        {
            Storage.ReleaseWrites(vaultId);
        }

        await fixture.Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var stored = (await vault.ListSecrets(organizationId)).Value!.Select(s => s.EnvKey);
        string[] acknowledged = ["COMMITTED", "IN_FLIGHT", .. Enumerable.Range(0, 20).Select(i => $"QUEUED_{i}")];
        Assert.Equal(acknowledged.Order(StringComparer.Ordinal), stored.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_failed_batch_write_fails_every_create_in_it_and_leaves_none_behind()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync("Hot");
        var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);
        Assert.True((await vault.CreateSecret(organizationId, Secret("COMMITTED"))).Succeeded);

        Storage.HoldWrites(vaultId);
        try
        {
            var inFlight = vault.CreateSecret(organizationId, Secret("IN_FLIGHT"));
            await Storage.WriteArrived(vaultId).WaitAsync(Patience);
            var batch = Enumerable.Range(0, 10).Select(i => vault.CreateSecret(organizationId, Secret($"BATCHED_{i}"))).ToArray();
            await WaitForPendingSecretsAsync(vault, organizationId, 2 + batch.Length);

            // The held write succeeds; the batch's own write is held in turn, then fails.
            Storage.ReleaseHeldWritesOnly(vaultId);
            Assert.True((await inFlight.WaitAsync(Patience)).Succeeded);
            await Storage.WriteArrived(vaultId).WaitAsync(Patience);
            Assert.All(batch, reply => Assert.False(reply.IsCompleted, "acknowledged before its write finished"));
            Storage.FailWrites(vaultId);
            Storage.ReleaseWrites(vaultId);

            var replies = await Task.WhenAll(batch).WaitAsync(Patience);
            Assert.All(replies, reply => Assert.Equal(VaultError.Unavailable, reply.Error));
        }
        finally
        {
            Storage.ReleaseWrites(vaultId);
        }

        var stored = (await vault.ListSecrets(organizationId)).Value!;
        Assert.Equal(["COMMITTED", "IN_FLIGHT"], stored.Select(s => s.EnvKey));
        Assert.True((await vault.CreateSecret(organizationId, Secret("BATCHED_0"))).Succeeded);
    }

    [Fact]
    public async Task When_a_write_may_have_landed_nothing_is_acknowledged_and_the_next_activation_reads_what_storage_holds()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync("Hot");
        var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);
        Assert.True((await vault.CreateSecret(organizationId, Secret("COMMITTED"))).Succeeded);

        Storage.HoldWrites(vaultId);
        try
        {
            var inFlight = vault.CreateSecret(organizationId, Secret("LANDED"));
            await Storage.WriteArrived(vaultId).WaitAsync(Patience);
            var queued = Enumerable.Range(0, 5).Select(i => vault.CreateSecret(organizationId, Secret($"QUEUED_{i}"))).ToArray();
            await WaitForPendingSecretsAsync(vault, organizationId, 2 + queued.Length);
            Storage.FailWrites(vaultId, afterLanding: true);
            Storage.ReleaseWrites(vaultId);

            // The write landed but its answer was lost: neither it nor the batch queued behind it
            // (validated against it, never written) is acknowledged.
            var replies = await Task.WhenAll(queued.Prepend(inFlight)).WaitAsync(Patience);
            Assert.All(replies, reply => Assert.Equal(VaultError.Unavailable, reply.Error));
        }
        finally
        {
            Storage.ReleaseWrites(vaultId);
        }

        var stored = (await vault.ListSecrets(organizationId)).Value!;
        Assert.Equal(["COMMITTED", "LANDED"], stored.Select(s => s.EnvKey));
        Assert.Equal(VaultError.EnvKeyExists, (await vault.CreateSecret(organizationId, Secret("LANDED"))).Error);
        Assert.True((await vault.CreateSecret(organizationId, Secret("QUEUED_0"))).Succeeded);
    }

    // A vault that holds secrets refuses to be deleted and says how many it holds, counting the
    // changes waiting for the next write: a probe without side effects that shows queued calls arrived.
    private static async Task WaitForPendingSecretsAsync(IVaultGrain vault, string organizationId, int expected)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var probe = await vault.Delete(organizationId);
            Assert.Equal(VaultError.VaultNotEmpty, probe.Error);
            if (probe.Count == expected)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{probe.Count} of {expected} secrets arrived");
            await Task.Delay(20);
        }
    }

    private static NewSecret Secret(string envKey) => VaultClusterFixture.Secret(envKey);
}
