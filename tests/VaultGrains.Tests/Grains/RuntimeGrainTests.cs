using System.Text;
using Azure.Data.Tables;
using VaultGrains.Domain;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Grains;

/// <summary>The release path inside the cluster: a value leaves a vault only for a runtime that holds it and proves its token.</summary>
[Collection(nameof(VaultClusterCollection))]
public sealed class RuntimeGrainTests(VaultClusterFixture fixture)
{
    private IGrainFactory Grains => fixture.Grains;

    [Fact]
    public async Task Release_needs_the_current_token_hash_and_gives_every_secret_of_the_held_vaults()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync();
        var secret = VaultClusterFixture.Secret("API_TOKEN", "release-me");
        Assert.True((await Grains.GetGrain<IVaultGrain>(vaultId).CreateSecret(organizationId, secret)).Succeeded);
        var runtime = await TestRuntimes.AttachAsync(Grains, organizationId, vaultId);
        var grain = Grains.GetGrain<IRuntimeGrain>(runtime.RuntimeId);

        Assert.Equal((VaultError.None, "release-me"), await TestRuntimes.ReleaseAsync(Grains, runtime, secret.Id));
        Assert.Equal(VaultError.RuntimeNotFound, (await grain.Release(CredentialFormat.Hash("rt_wrong"))).Error);
        Assert.Equal(VaultError.RuntimeNotFound, (await grain.Release("")).Error);
        Assert.Null(await grain.CheckStamp(""));

        var newHash = CredentialFormat.Hash(Credentials.RuntimeToken.Generate());
        Assert.True((await grain.RotateToken(organizationId, newHash)).Succeeded);
        Assert.Equal(VaultError.RuntimeNotFound, (await grain.Release(runtime.TokenHash)).Error);
        Assert.Null(await grain.CheckStamp(runtime.TokenHash));
        Assert.Equal((VaultError.None, "release-me"), await TestRuntimes.ReleaseAsync(Grains, (runtime.RuntimeId, newHash), secret.Id));
    }

    [Fact]
    public async Task A_vault_refuses_a_release_asked_by_anyone_but_the_runtime_grain_it_names()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync();
        Assert.True((await Grains.GetGrain<IVaultGrain>(vaultId).CreateSecret(organizationId, VaultClusterFixture.Secret("API_TOKEN"))).Succeeded);
        var runtime = await TestRuntimes.AttachAsync(Grains, organizationId, vaultId);

        // A cluster client that knows an attached runtime's id, but not its token, asks the vault directly.
        var direct = await Grains.GetGrain<IVaultGrain>(vaultId).ReleaseToRuntime(runtime.RuntimeId);

        Assert.Equal(VaultError.RuntimeNotAttached, direct.Error);
        Assert.Null(direct.Value);
    }

    [Fact]
    public async Task Detach_delete_and_the_first_vault_rule_decide_what_is_released()
    {
        var (organizationId, first) = await fixture.NewVaultAsync("First");
        var second = (await Grains.GetGrain<IOrganizationGrain>(organizationId).CreateVault(ResourceId.New(ResourceId.Vault), "Second", null)).Value!.Id;
        var inFirst = VaultClusterFixture.Secret("SHARED", "from-first");
        var inSecond = VaultClusterFixture.Secret("SHARED", "from-second");
        var onlySecond = VaultClusterFixture.Secret("ONLY_SECOND", "second-only");
        Assert.True((await Grains.GetGrain<IVaultGrain>(first).CreateSecret(organizationId, inFirst)).Succeeded);
        Assert.True((await Grains.GetGrain<IVaultGrain>(second).CreateSecret(organizationId, inSecond)).Succeeded);
        Assert.True((await Grains.GetGrain<IVaultGrain>(second).CreateSecret(organizationId, onlySecond)).Succeeded);
        var runtime = await TestRuntimes.AttachAsync(Grains, organizationId, first, second);
        var grain = Grains.GetGrain<IRuntimeGrain>(runtime.RuntimeId);

        var released = (await grain.Release(runtime.TokenHash)).Value!;
        Assert.Equal([("SHARED", "from-first"), ("ONLY_SECOND", "second-only")], released.Secrets.Select(s => (s.EnvKey, s.Value.Plaintext)));

        var before = await grain.CheckStamp(runtime.TokenHash);
        Assert.True((await grain.Update(organizationId, new RuntimeChanges(null, [second]))).Succeeded);
        Assert.NotEqual(before, await grain.CheckStamp(runtime.TokenHash));
        released = (await grain.Release(runtime.TokenHash)).Value!;
        Assert.Equal([("SHARED", "from-second"), ("ONLY_SECOND", "second-only")], released.Secrets.Select(s => (s.EnvKey, s.Value.Plaintext)));
        Assert.Equal(VaultError.RuntimeNotAttached, (await Grains.GetGrain<IVaultGrain>(first).ReleaseToRuntime(runtime.RuntimeId)).Error);

        Assert.True((await Grains.GetGrain<IOrganizationGrain>(organizationId).DeleteRuntime(runtime.RuntimeId)).Succeeded);
        Assert.Null(await grain.CheckStamp(runtime.TokenHash));
        Assert.Equal(VaultError.RuntimeNotFound, (await grain.Release(runtime.TokenHash)).Error);
        Assert.True((await Grains.GetGrain<IVaultGrain>(second).DeleteSecret(organizationId, inSecond.Id)).Succeeded);
        Assert.True((await Grains.GetGrain<IVaultGrain>(second).DeleteSecret(organizationId, onlySecond.Id)).Succeeded);
        Assert.True((await Grains.GetGrain<IOrganizationGrain>(organizationId).DeleteVault(second)).Succeeded);
    }

    [Fact]
    public async Task Every_secret_change_moves_the_stamp_before_it_is_acknowledged()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync();
        var vault = Grains.GetGrain<IVaultGrain>(vaultId);
        var runtime = await TestRuntimes.AttachAsync(Grains, organizationId, vaultId);
        var grain = Grains.GetGrain<IRuntimeGrain>(runtime.RuntimeId);
        var secret = VaultClusterFixture.Secret("ROTATED", "v1");

        var stamps = new List<long?> { await grain.CheckStamp(runtime.TokenHash) };
        Assert.True((await vault.CreateSecret(organizationId, secret)).Succeeded);
        stamps.Add(await grain.CheckStamp(runtime.TokenHash));
        Assert.True((await vault.UpdateSecret(organizationId, secret.Id, new SecretChanges(new SecretValue("v2"), null))).Succeeded);
        stamps.Add(await grain.CheckStamp(runtime.TokenHash));
        Assert.Equal((VaultError.None, "v2"), await TestRuntimes.ReleaseAsync(Grains, runtime, secret.Id));
        Assert.True((await vault.UpdateSecret(organizationId, secret.Id, new SecretChanges(null, ["api.example.com"]))).Succeeded);
        stamps.Add(await grain.CheckStamp(runtime.TokenHash));
        Assert.Equal(["api.example.com"], (await grain.Release(runtime.TokenHash)).Value!.Secrets.Single().AllowedDomains);
        Assert.True((await vault.DeleteSecret(organizationId, secret.Id)).Succeeded);
        stamps.Add(await grain.CheckStamp(runtime.TokenHash));

        Assert.All(stamps, s => Assert.NotNull(s));
        Assert.Equal(stamps.Count, stamps.Distinct().Count());
        Assert.Empty((await grain.Release(runtime.TokenHash)).Value!.Secrets);
    }

    [Fact]
    public async Task Runtimes_and_attachments_survive_a_full_cluster_restart()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync();
        var secret = VaultClusterFixture.Secret("DURABLE", "still-here");
        Assert.True((await Grains.GetGrain<IVaultGrain>(vaultId).CreateSecret(organizationId, secret)).Succeeded);
        var runtime = await TestRuntimes.AttachAsync(Grains, organizationId, vaultId);

        await fixture.RestartAsync();

        Assert.Equal((VaultError.None, "still-here"), await TestRuntimes.ReleaseAsync(Grains, runtime, secret.Id));
        var listed = await Grains.GetGrain<IOrganizationGrain>(organizationId).ListRuntimes();
        Assert.Equal([runtime.RuntimeId], listed.Value!.Select(r => r.Id));
        Assert.True((await Grains.GetGrain<IVaultGrain>(vaultId).DeleteSecret(organizationId, secret.Id)).Succeeded);
        var refused = await Grains.GetGrain<IOrganizationGrain>(organizationId).DeleteVault(vaultId);
        Assert.Equal((VaultError.VaultAssigned, 1), (refused.Error, refused.Count));
    }

    [Fact]
    public async Task The_proxy_authority_is_made_once_and_its_key_is_stored_only_encrypted()
    {
        var authority = await Grains.GetGrain<IProxyAuthorityGrain>(0).GetSigningAuthority();
        await fixture.Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var again = await Grains.GetGrain<IProxyAuthorityGrain>(0).GetSigningAuthority();

        Assert.Equal(authority.Certificate, again.Certificate);
        Assert.Equal(authority.PrivateKey, again.PrivateKey);
        var stored = await ReadTableAsync(fixture.Storage.RuntimeTable);
        Assert.True(stored.Length > 0);
        Assert.True(stored.AsSpan().IndexOf(authority.PrivateKey) < 0, "the proxy CA's private key is stored in plaintext");
        Assert.True(stored.AsSpan().IndexOf(Convert.ToBase64String(authority.PrivateKey).Select(c => (byte)c).ToArray()) < 0, "the proxy CA's private key is stored in base64");
    }

    /// <summary>Every byte and string property of every row of a table, concatenated.</summary>
    private async Task<byte[]> ReadTableAsync(string tableName)
    {
        var table = new TableServiceClient(fixture.Storage.ConnectionString).GetTableClient(tableName);
        var bytes = new List<byte>();
        await foreach (var row in table.QueryAsync<TableEntity>())
        {
            foreach (var (_, value) in row)
            {
                bytes.AddRange(value switch
                {
                    byte[] binary => binary,
                    string text => Encoding.UTF8.GetBytes(text),
                    _ => [],
                });
            }
        }

        return [.. bytes];
    }
}
