using Azure.Storage.Blobs;
using VaultGrains.Grains.Audit;
using VaultGrains.Grains.Vaults;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Grains;

/// <summary>
/// A silo whose first use of a container falls in a storage outage (a silo started, or a vault
/// first activated there, while storage is down) works once storage is back, without a restart.
/// </summary>
public sealed class StoresFirstUsedDuringAnOutageTests : IAsyncLifetime
{
    private AzuriteInstance azurite = null!;

    public async Task InitializeAsync()
    {
        azurite = AzuriteInstance.Start();
        await azurite.StopAsync();
    }

    public async Task DisposeAsync() => await azurite.DisposeAsync();

    [Fact]
    public async Task The_vault_log_store_reads_and_writes_once_storage_is_back()
    {
        var store = new BlobVaultLogStore(Container("vaults"));
        var vaultId = VaultGrains.Domain.ResourceId.New(VaultGrains.Domain.ResourceId.Vault);

        await Assert.ThrowsAnyAsync<Exception>(() => store.ReadHeadAsync(vaultId, CancellationToken.None));
        azurite.Restart();

        Assert.Null(await store.ReadHeadAsync(vaultId, CancellationToken.None));
        await store.WriteCheckpointAsync(vaultId, "0001", new byte[] { 1, 2, 3 }, CancellationToken.None);
        Assert.Equal(new byte[] { 1, 2, 3 }, await store.ReadLogAsync(vaultId, "0001", CancellationToken.None));
    }

    [Fact]
    public async Task The_audit_store_lists_and_appends_once_storage_is_back()
    {
        var store = new BlobAuditStore(Container("audit"));
        var organizationId = VaultGrains.Domain.ResourceId.New(VaultGrains.Domain.ResourceId.Organization);

        await Assert.ThrowsAnyAsync<Exception>(() => store.ListSegmentsAsync(organizationId, CancellationToken.None));
        azurite.Restart();

        Assert.Empty(await store.ListSegmentsAsync(organizationId, CancellationToken.None));
        await store.AppendAsync(organizationId, "0001", create: true, expectedLength: 0, "{}\n"u8.ToArray(), CancellationToken.None);
        Assert.Equal(["0001"], await store.ListSegmentsAsync(organizationId, CancellationToken.None));
        Assert.Equal("{}\n", await store.ReadSegmentAsync(organizationId, "0001", CancellationToken.None));
    }

    // No SDK retries: the call during the outage fails at once instead of after the backoff.
    private BlobContainerClient Container(string name) =>
        new BlobServiceClient(azurite.ConnectionString, new BlobClientOptions { Retry = { MaxRetries = 0 } }).GetBlobContainerClient(name);
}
