using System.Security.Cryptography;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using VaultGrains.Grains.Vaults;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Grains.Vaults;

/// <summary>
/// Through the vault grain on Azurite: a vault stored by the previous version (the committed
/// fixture) is read and moved to the log on its first write, and a damaged log makes the vault
/// answer an error instead of dropping or overwriting anything.
/// </summary>
[Collection(nameof(VaultClusterCollection))]
public sealed class VaultStorageUpgradeTests(VaultClusterFixture fixture)
{
    [Fact]
    public async Task A_vault_stored_by_the_previous_version_is_read_and_moved_to_the_log_on_its_first_write()
    {
        var source = Path.Combine(TestStorage.RepositoryRoot(), "tests", "VaultGrains.Tests", "Fixtures", "legacy-vault");
        var facts = File.ReadAllLines(Path.Combine(source, "vault.txt")).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var (blobName, organizationId, vaultId) = (facts["blob"], facts["organization"], facts["vault"]);
        Assert.Equal(BlobVaultLogStore.LegacyName(vaultId), blobName);
        var keyFile = Path.Combine(Directory.CreateTempSubdirectory("vaultgrains-legacy-key").FullName, "kek.key");
        File.Copy(Path.Combine(source, "kek.key"), keyFile);
        var storage = TestStorage.NewStorage();
        var container = new BlobServiceClient(storage.ConnectionString).GetBlobContainerClient(storage.VaultContainer);
        await container.CreateIfNotExistsAsync();
        await container.GetBlobClient(blobName).UploadAsync(BinaryData.FromBytes(await File.ReadAllBytesAsync(Path.Combine(source, "vault.bin"))),
            new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = facts["contentType"] } });
        var serviceId = "svc-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

        // A vault written before seals carries none: refused unless the operator runs the upgrade.
        var cluster = await VaultTestCluster.StartAsync(storage, keyFile, serviceId);
        try
        {
            var vault = cluster.GrainFactory.GetGrain<IVaultGrain>(vaultId);
            Assert.Equal(VaultError.IntegrityFailure, (await vault.CreateSecret(organizationId, VaultClusterFixture.Secret("TOO_EARLY"))).Error);
            Assert.True((await container.GetBlobClient(blobName).ExistsAsync()).Value, "a refused vault must not be moved");
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }

        cluster = await VaultTestCluster.StartAsync(storage, keyFile, serviceId, settings: new Dictionary<string, string?> { ["Integrity:AcceptUnsealedRecords"] = "true" });
        try
        {
            var vault = cluster.GrainFactory.GetGrain<IVaultGrain>(vaultId);
            var details = (await vault.Get(organizationId)).Value!;
            Assert.Equal(("Legacy", "made by cdd4480", 12), (details.Name, details.Description, details.SecretCount));
            var listed = (await vault.ListSecrets(organizationId)).Value!;
            Assert.Equal(Enumerable.Range(0, 12).Select(i => $"LEGACY_{i:D2}"), listed.Select(s => s.EnvKey));

            // The old vault key unwraps and every value decrypts: setting the same value is a no-op.
            foreach (var (secret, i) in listed.Select((s, i) => (s, i)))
            {
                var same = await vault.UpdateSecret(organizationId, secret.Id, new SecretChanges(new SecretValue($"legacy-value-{i:D2}"), null));
                Assert.True(same.Succeeded, same.Error.ToString());
                Assert.Equal(secret.UpdatedAt, same.Value!.UpdatedAt);
            }

            Assert.True((await container.GetBlobClient(blobName).ExistsAsync()).Value, "reads alone must not move the vault");
            var created = await vault.CreateSecret(organizationId, VaultClusterFixture.Secret("AFTER_UPGRADE", "new-value"));
            Assert.True(created.Succeeded, created.Error.ToString());

            Assert.False((await container.GetBlobClient(blobName).ExistsAsync()).Value, "the old blob is still there after the move");
            Assert.True((await container.GetBlobClient(BlobVaultLogStore.HeadName(vaultId)).ExistsAsync()).Value);
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }

        cluster = await VaultTestCluster.StartAsync(storage, keyFile, serviceId);
        try
        {
            var vault = cluster.GrainFactory.GetGrain<IVaultGrain>(vaultId);
            var listed = (await vault.ListSecrets(organizationId)).Value!;
            Assert.Equal([.. Enumerable.Range(0, 12).Select(i => $"LEGACY_{i:D2}"), "AFTER_UPGRADE"], listed.Select(s => s.EnvKey).OrderBy(k => k == "AFTER_UPGRADE").ThenBy(k => k, StringComparer.Ordinal));
            var same = await vault.UpdateSecret(organizationId, listed[0].Id, new SecretChanges(new SecretValue("legacy-value-00"), null));
            Assert.Equal(listed[0].UpdatedAt, same.Value!.UpdatedAt);
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_damaged_record_in_the_middle_of_the_log_makes_the_vault_answer_an_error_and_nothing_is_overwritten()
    {
        var (organizationId, vaultId) = await fixture.NewVaultAsync("Damaged");
        var vault = fixture.Grains.GetGrain<IVaultGrain>(vaultId);
        foreach (var key in new[] { "FIRST", "SECOND", "THIRD" })
        {
            Assert.True((await vault.CreateSecret(organizationId, VaultClusterFixture.Secret(key))).Succeeded);
        }

        await fixture.Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var container = new BlobServiceClient(fixture.Storage.ConnectionString).GetBlobContainerClient(fixture.Storage.VaultContainer);
        var head = (await container.GetBlobClient(BlobVaultLogStore.HeadName(vaultId)).DownloadContentAsync()).Value.Content.ToString();
        var logBlob = container.GetAppendBlobClient(BlobVaultLogStore.LogName(vaultId, head));
        var bytes = (await logBlob.DownloadContentAsync()).Value.Content.ToArray();
        var middle = VaultLogFormat.Read(vaultId, bytes).Frames[2];
        bytes[middle.Offset + VaultLogFormat.HeaderBytes + 20] ^= 0x20;
        await logBlob.DeleteAsync();
        await logBlob.CreateAsync();
        await logBlob.AppendBlockAsync(new MemoryStream(bytes));

        Assert.Equal(VaultError.Unavailable, (await vault.ListSecrets(organizationId)).Error);
        Assert.Equal(VaultError.Unavailable, (await vault.Get(organizationId)).Error);
        Assert.Equal(VaultError.Unavailable, (await vault.CreateSecret(organizationId, VaultClusterFixture.Secret("FOURTH"))).Error);

        Assert.Equal(bytes, (await logBlob.DownloadContentAsync()).Value.Content.ToArray());
        Assert.Equal(head, (await container.GetBlobClient(BlobVaultLogStore.HeadName(vaultId)).DownloadContentAsync()).Value.Content.ToString());
    }
}
