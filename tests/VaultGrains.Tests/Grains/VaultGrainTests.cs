using System.Text;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using VaultGrains.Domain;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Grains;

[CollectionDefinition(nameof(VaultClusterCollection))]
public sealed class VaultClusterCollection : ICollectionFixture<VaultClusterFixture>;

[Collection(nameof(VaultClusterCollection))]
public sealed class VaultGrainTests(VaultClusterFixture fixture)
{

    private static NewSecret Secret(string envKey, string value = "postgresql://user:pw@host/db") => VaultClusterFixture.Secret(envKey, value);

    [Fact]
    public async Task Concurrent_creates_of_one_env_key_admit_exactly_one()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync();
        var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);

        var replies = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => vault.CreateSecret(organizationId, Secret("DATABASE_URL", $"value-{i}"))));

        Assert.Single(replies, r => r.Succeeded);
        Assert.Equal(63, replies.Count(r => r.Error == VaultError.EnvKeyExists));
        var listed = await vault.ListSecrets(organizationId);
        Assert.Single(listed.Value!);
    }

    [Fact]
    public async Task Concurrent_distinct_creates_all_succeed_and_keep_their_ids()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync();
        var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);
        var secrets = Enumerable.Range(0, 200).Select(i => Secret($"KEY_{i}")).ToArray();

        var replies = await Task.WhenAll(secrets.Select(s => vault.CreateSecret(organizationId, s)));

        Assert.All(replies, r => Assert.True(r.Succeeded, r.Error.ToString()));
        var listed = (await vault.ListSecrets(organizationId)).Value!;
        Assert.Equal(200, listed.Count);
        Assert.Equal(secrets.Select(s => s.Id).Order(), listed.Select(s => s.Id).Order());
        Assert.All(listed, s => Assert.Equal(s.CreatedAt, s.UpdatedAt));
    }

    [Fact]
    public async Task State_survives_deactivation_and_a_full_cluster_restart()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync();
        var secret = Secret("API_TOKEN");
        Assert.True((await fixture.Grains.GetGrain<IVaultGrain>(vaultId).CreateSecret(organizationId, secret)).Succeeded);

        await fixture.Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var afterDeactivation = await fixture.Grains.GetGrain<IVaultGrain>(vaultId).GetSecret(organizationId, secret.Id);
        Assert.Equal("API_TOKEN", afterDeactivation.Value!.EnvKey);

        await fixture.RestartAsync();

        var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);
        var afterRestart = await vault.GetSecret(organizationId, secret.Id);
        Assert.True(afterRestart.Succeeded, afterRestart.Error.ToString());
        Assert.Equal("API_TOKEN", afterRestart.Value!.EnvKey);
        Assert.Equal(VaultError.EnvKeyExists, (await vault.CreateSecret(organizationId, Secret("API_TOKEN"))).Error);
        var released = await TestRuntimes.ReleaseOnceAsync(fixture.Grains, organizationId, vaultId, secret.Id);
        Assert.Equal(secret.Value.Plaintext, released.Value);
        var listed = await fixture.Grains.GetGrain<IOrganizationGrain>(organizationId).ListVaults();
        Assert.Equal([vaultId], listed.Value!.Select(v => v.Id));
    }

    [Fact]
    public async Task A_failed_write_is_never_acknowledged_and_leaves_nothing_behind()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync();
        var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);
        Assert.True((await vault.CreateSecret(organizationId, Secret("KEPT"))).Succeeded);

        FaultInjectingVaultLogStore.FailWrites(vaultId);
        var failed = await vault.CreateSecret(organizationId, Secret("LOST"));

        Assert.Equal(VaultError.Unavailable, failed.Error);
        var listed = (await vault.ListSecrets(organizationId)).Value!;
        Assert.Equal(["KEPT"], listed.Select(s => s.EnvKey));
        var retried = await vault.CreateSecret(organizationId, Secret("LOST"));
        Assert.True(retried.Succeeded, retried.Error.ToString());
    }

    [Fact]
    public async Task Another_organization_sees_no_vault()
    {
        var (_, vaultId) = await fixture.NewVaultAsync();
        var stranger = ResourceId.New(ResourceId.Organization);
        var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);

        Assert.Equal(VaultError.VaultNotFound, (await vault.Get(stranger)).Error);
        Assert.Equal(VaultError.VaultNotFound, (await vault.CreateSecret(stranger, Secret("X"))).Error);
        Assert.Equal(VaultError.VaultNotFound, (await vault.ListSecrets(stranger)).Error);
    }

    [Fact]
    public async Task Stored_blobs_and_rows_never_hold_the_plaintext_value()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync();
        var plaintext = "plaintext-marker-" + Guid.NewGuid().ToString("N");
        Assert.True((await fixture.Grains.GetGrain<IVaultGrain>(vaultId).CreateSecret(organizationId, Secret("MARKED", plaintext))).Succeeded);

        var needles = new[] { Encoding.UTF8.GetBytes(plaintext), Encoding.Unicode.GetBytes(plaintext), Encoding.UTF8.GetBytes(Convert.ToBase64String(Encoding.UTF8.GetBytes(plaintext))) };
        var blobs = new BlobServiceClient(fixture.Storage.ConnectionString);
        var scanned = 0;
        await foreach (var container in blobs.GetBlobContainersAsync(prefix: fixture.Storage.Prefix))
        {
            var containerClient = blobs.GetBlobContainerClient(container.Name);
            await foreach (var blob in containerClient.GetBlobsAsync())
            {
                var content = (await containerClient.GetBlobClient(blob.Name).DownloadContentAsync()).Value.Content.ToArray();
                scanned++;
                Assert.All(needles, needle => Assert.True(content.AsSpan().IndexOf(needle) < 0, $"plaintext found in blob {blob.Name}"));
            }
        }

        var tables = new TableServiceClient(fixture.Storage.ConnectionString);
        await foreach (var table in tables.QueryAsync(t => t.Name.CompareTo(fixture.Storage.Prefix) >= 0))
        {
            await foreach (var row in tables.GetTableClient(table.Name).QueryAsync<TableEntity>())
            {
                foreach (var (_, value) in row)
                {
                    var text = value is byte[] bytes ? Encoding.UTF8.GetString(bytes) : value?.ToString() ?? "";
                    Assert.DoesNotContain(plaintext, text);
                }
            }
        }

        Assert.True(scanned > 0, "no blob was scanned: the test would prove nothing");
    }

    [Fact]
    public async Task A_summary_the_organization_did_not_take_is_sent_again_without_another_write()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync("Reported");
        var organization = fixture.Grains.GetGrain<IOrganizationGrain>(organizationId);
        OrganizationReportFaults.FailNext(organizationId, 2);

        Assert.True((await fixture.Grains.GetGrain<IVaultGrain>(vaultId).CreateSecret(organizationId, VaultClusterFixture.Secret("COUNTED"))).Succeeded);
        Assert.Equal(0, (await organization.ListVaults()).Value!.Single().SecretCount);

        // Retried after 1 s, refused again, retried after 2 s more: no further write needed.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while ((await organization.ListVaults()).Value!.Single().SecretCount != 1)
        {
            Assert.True(DateTime.UtcNow < deadline, "the organization never got the summary");
            await Task.Delay(100);
        }

        Assert.Equal(2, OrganizationReportFaults.RefusedCount(organizationId));
    }
}
