using Azure.Storage.Blobs;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Grains.Vaults;

/// <summary>
/// Wrote tests/VaultGrains.Tests/Fixtures/legacy-vault with the code of commit cdd4480 (the
/// Orleans blob grain storage of <c>VaultState</c>): the blob's bytes, its name, and the test KEK
/// that wrapped its vault key. Kept to show how the bytes were made; it is skipped unless
/// VAULTGRAINS_WRITE_LEGACY_FIXTURE names a directory.
/// </summary>
public sealed class LegacyVaultFixtureProducer
{
    [Fact]
    public async Task Write_a_vault_in_the_grain_storage_format()
    {
        if (Environment.GetEnvironmentVariable("VAULTGRAINS_WRITE_LEGACY_FIXTURE") is not { Length: > 0 } target)
        {
            return;
        }

        var fixture = new VaultClusterFixture();
        await fixture.InitializeAsync();
        try
        {
            var (organizationId, vaultId) = await fixture.NewVaultAsync("Legacy");
            var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);
            for (var i = 0; i < 12; i++)
            {
                Assert.True((await vault.CreateSecret(organizationId, VaultClusterFixture.Secret($"LEGACY_{i:D2}", $"legacy-value-{i:D2}"))).Succeeded);
            }

            Assert.True((await vault.Update(organizationId, new VaultChanges("Legacy", true, "made by cdd4480"))).Succeeded);
            var container = new BlobServiceClient(fixture.Storage.ConnectionString).GetBlobContainerClient(fixture.Storage.VaultContainer);
            Directory.CreateDirectory(target);
            await foreach (var item in container.GetBlobsAsync())
            {
                var blob = container.GetBlobClient(item.Name);
                var raw = (await blob.DownloadContentAsync()).Value;
                await File.WriteAllBytesAsync(Path.Combine(target, "vault.bin"), raw.Content.ToArray());
                await File.WriteAllTextAsync(Path.Combine(target, "vault.txt"),
                    $"blob={item.Name}\ncontentType={raw.Details.ContentType}\norganization={organizationId}\nvault={vaultId}\n");
            }

            File.Copy(fixture.KeyFile, Path.Combine(target, "kek.key"), overwrite: true);
        }
        finally
        {
            await fixture.DisposeAsync();
        }
    }
}
