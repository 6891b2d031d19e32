using VaultGrains.Domain;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Grains;

/// <summary>
/// What keeps an env_key unique when the directory briefly hosts a vault twice: storage writes are
/// ETag-checked, and the activation that loses the race acknowledges nothing, deactivates, and the
/// next call reads the truth. A second cluster on the same blob container is a real duplicate
/// activation (blob names do not carry the cluster), not a simulation.
/// </summary>
[Collection(nameof(VaultClusterCollection))]
public sealed class DuplicateActivationTests(VaultClusterFixture fixture)
{
    private static NewSecret Secret(string envKey) => VaultClusterFixture.Secret(envKey, "s3cr3t-" + envKey);

    [Fact]
    public async Task The_activation_that_loses_the_etag_race_acknowledges_nothing_and_then_refuses_the_duplicate()
    {
        var twin = await VaultTestCluster.StartAsync(fixture.Storage, fixture.KeyFile, fixture.ServiceId);
        try
        {
            var (organizationId, vaultId) = await fixture.NewVaultAsync();
            var first = fixture.Grains.GetGrain<IVaultGrain>(vaultId);
            var second = twin.GrainFactory.GetGrain<IVaultGrain>(vaultId);
            Assert.True((await second.Get(organizationId)).Succeeded, "the second activation did not load the vault");

            var winner = Secret("DATABASE_URL");
            Assert.True((await first.CreateSecret(organizationId, winner)).Succeeded);
            var loser = await second.CreateSecret(organizationId, Secret("DATABASE_URL"));

            Assert.Equal(VaultError.Unavailable, loser.Error);
            var retried = await second.CreateSecret(organizationId, Secret("DATABASE_URL"));
            Assert.Equal(VaultError.EnvKeyExists, retried.Error);
            var listed = (await second.ListSecrets(organizationId)).Value!;
            Assert.Equal([winner.Id], listed.Select(s => s.Id));
            var other = await second.CreateSecret(organizationId, Secret("API_TOKEN"));
            Assert.True(other.Succeeded, other.Error.ToString());
        }
        finally
        {
            await twin.StopAllSilosAsync();
            await twin.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_create_sent_again_with_the_same_id_gets_the_original_answer()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync();
        var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);
        var secret = Secret("REPLAYED");

        var replies = await Task.WhenAll(vault.CreateSecret(organizationId, secret), vault.CreateSecret(organizationId, secret));
        var again = await vault.CreateSecret(organizationId, secret);

        Assert.All(replies.Append(again), r => Assert.Equal(secret.Id, r.Value?.Id));
        Assert.Equal(VaultError.EnvKeyExists, (await vault.CreateSecret(organizationId, Secret("REPLAYED"))).Error);
        Assert.Single((await vault.ListSecrets(organizationId)).Value!);
    }

    [Fact]
    public async Task A_write_that_landed_but_reported_a_conflict_is_not_acknowledged_and_a_replay_finds_it()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync();
        var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);
        var secret = Secret("UNCERTAIN");

        FaultInjectingVaultLogStore.LandThenConflict(vaultId);
        var uncertain = await vault.CreateSecret(organizationId, secret);

        Assert.Equal(VaultError.Unavailable, uncertain.Error);
        var replay = await vault.CreateSecret(organizationId, secret);
        Assert.True(replay.Succeeded, replay.Error.ToString());
        Assert.Equal(secret.Id, replay.Value!.Id);
        Assert.Equal(VaultError.EnvKeyExists, (await vault.CreateSecret(organizationId, Secret("UNCERTAIN"))).Error);
        Assert.Equal([secret.Id], (await vault.ListSecrets(organizationId)).Value!.Select(s => s.Id));
    }

    [Fact]
    public async Task A_duplicate_of_a_key_whose_write_fails_is_not_told_it_exists()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync();
        var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);
        FaultInjectingVaultLogStore.FailWrites(vaultId);
        FaultInjectingVaultLogStore.HoldWrites(vaultId);

        var first = vault.CreateSecret(organizationId, Secret("RACED"));
        await Task.Delay(200);
        var second = vault.CreateSecret(organizationId, Secret("RACED"));
        await Task.Delay(200);
        FaultInjectingVaultLogStore.ReleaseWrites(vaultId);

        Assert.Equal(VaultError.Unavailable, (await first).Error);
        Assert.Equal(VaultError.Unavailable, (await second).Error);
        Assert.Empty((await vault.ListSecrets(organizationId)).Value!);
    }
}
