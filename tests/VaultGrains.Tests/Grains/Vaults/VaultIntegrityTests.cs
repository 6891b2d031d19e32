using VaultGrains.Grains.Vaults;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Grains.Vaults;

/// <summary>
/// Issue 11, "policy in storage is not authenticated": someone who can write the storage account
/// but cannot use the KEK edits a vault as stored. Each edit is found as an integrity failure the
/// next time the vault's key is used, and nothing is released or written on top of it.
/// </summary>
[Collection(nameof(VaultClusterCollection))]
public sealed class VaultIntegrityTests(VaultClusterFixture fixture)
{
    public static TheoryData<string> Tamperings => new()
    {
        "widen allowed_domains",
        "change env_key",
        "attach another runtime",
        "roll one secret back to its older sealed copy",
        "drop one secret",
        "strip every seal",
    };

    [Theory]
    [MemberData(nameof(Tamperings))]
    public async Task A_vault_edited_in_storage_is_refused_as_an_integrity_failure_and_releases_nothing(string tampering)
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync("Tampered");
        var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);
        var pinned = (await vault.CreateSecret(organizationId, VaultClusterFixture.Secret("PINNED", "pinned-value", "api.example.com"))).Value!;
        Assert.True((await vault.CreateSecret(organizationId, VaultClusterFixture.Secret("OTHER", "other-value", "other.example.com"))).Succeeded);
        var runtime = await TestRuntimes.AttachAsync(fixture.Grains, organizationId, vaultId);
        Assert.Equal((VaultError.None, "pinned-value"), await TestRuntimes.ReleaseAsync(fixture.Grains, runtime, pinned.Id));

        var stored = new StoredVaults(fixture.Storage, VaultLogTests.Serializer);
        var before = (await stored.ReadAsync(vaultId))!.Value.State;
        Assert.NotNull(before.IntegritySeal);
        Assert.All(before.Secrets, s => Assert.NotNull(s.Seal));
        var olderCopy = before.Secrets.Single(s => s.Id == pinned.Id);
        Assert.True((await vault.UpdateSecret(organizationId, pinned.Id, new SecretChanges(new SecretValue("rotated-value"), null))).Succeeded);

        var state = (await stored.ReadAsync(vaultId))!.Value.State;
        var index = state.Secrets.FindIndex(s => s.Id == pinned.Id);
        switch (tampering)
        {
            case "widen allowed_domains":
                state.Secrets[index] = state.Secrets[index] with { AllowedDomains = ["api.example.com", "attacker.example"] };
                break;
            case "change env_key":
                state.Secrets[index] = state.Secrets[index] with { EnvKey = "OTHER_NAME" };
                break;
            case "attach another runtime":
                state.Runtimes.Add("rtm_01KQ27AQH800XQTQPJZ0DH14SN");
                break;
            case "roll one secret back to its older sealed copy":
                state.Secrets[index] = olderCopy;
                break;
            case "drop one secret":
                state.Secrets.RemoveAt(1 - index);
                break;
            case "strip every seal":
                state.IntegritySeal = null;
                state.Secrets = [.. state.Secrets.Select(s => s with { Seal = null })];
                state.Secrets[index] = state.Secrets[index] with { AllowedDomains = ["attacker.example"] };
                break;
        }

        await stored.OverwriteAsync(vaultId, state);
        await fixture.Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var tamperedBytes = await stored.ReadBytesAsync(vaultId);

        Assert.Equal(VaultError.IntegrityFailure, (await TestRuntimes.ReleaseAsync(fixture.Grains, runtime, pinned.Id)).Error);
        Assert.Equal(VaultError.IntegrityFailure, (await vault.UpdateSecret(organizationId, pinned.Id, new SecretChanges(null, ["api.example.com"]))).Error);
        Assert.Equal(VaultError.IntegrityFailure, (await vault.CreateSecret(organizationId, VaultClusterFixture.Secret("LAUNDER"))).Error);
        Assert.Equal(VaultError.IntegrityFailure, (await vault.ListSecrets(organizationId)).Error);

        // Nothing was written over the edited state (no new seal that would launder it).
        Assert.Equal(tamperedBytes, await stored.ReadBytesAsync(vaultId));
    }

    [Fact]
    public async Task A_whole_vault_replaced_by_its_own_older_sealed_copy_is_accepted_as_the_readme_says()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync("Rolled back");
        var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);
        var secret = (await vault.CreateSecret(organizationId, VaultClusterFixture.Secret("ROLLED", "first-value"))).Value!;
        var stored = new StoredVaults(fixture.Storage, VaultLogTests.Serializer);
        var older = (await stored.ReadAsync(vaultId))!.Value.State;
        Assert.True((await vault.UpdateSecret(organizationId, secret.Id, new SecretChanges(new SecretValue("second-value"), null))).Succeeded);

        await stored.OverwriteAsync(vaultId, older);
        await fixture.Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        // The limit of seals without a trusted counter: a whole, consistent older state verifies.
        Assert.Equal((VaultError.None, "first-value"), await TestRuntimes.ReleaseOnceAsync(fixture.Grains, organizationId, vaultId, secret.Id));
    }
}
