using System.Net;
using Azure.Data.Tables;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;
using VaultGrains.Domain;
using VaultGrains.Grains;
using VaultGrains.Grains.Crypto;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Api;

/// <summary>A service upgraded from before records were sealed: its silos start accepting unsealed records.</summary>
public sealed class SealingUpgradeFixture : ApiFixture
{
    protected override void ConfigureSettings(Dictionary<string, string?> settings) => settings[CredentialSeal.AcceptUnsealedKey] = "true";
}

/// <summary>
/// The upgrade path for records written before seals: accepted only while the operator's setting says
/// so, sealed by the one-time walk, and refused once the setting is gone if the walk did not seal them.
/// </summary>
public sealed class SealingUpgradeTests(SealingUpgradeFixture fixture) : IClassFixture<SealingUpgradeFixture>
{
    [Fact]
    public async Task Unsealed_records_work_during_the_upgrade_the_walk_seals_the_listed_ones_and_the_rest_are_refused_after_it()
    {
        var (_, listed, _) = await fixture.NewTenantAsync("Upgraded");
        var listedKey = listed.DefaultRequestHeaders.Authorization!.Parameter!;

        // A second record, left unsealed after the walk (as one planted later, or one the walk missed).
        var (_, other, _) = await fixture.NewTenantAsync("Planted");
        var plantedKey = other.DefaultRequestHeaders.Authorization!.Parameter!;

        // Both records as an older version wrote them: no seal.
        await StripSealAsync(listedKey);
        await StripSealAsync(plantedKey);
        await fixture.SiloServices.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Assert.Equal(HttpStatusCode.OK, (await listed.GetAsync(Vaults)).StatusCode);

        var counts = await ApiFixture.ReadAsync(await fixture.CreateClient(ApiFixture.AdminToken).PostAsync("/api/admin/v1/maintenance/seal-records", null));
        Assert.True(counts.GetProperty("api_keys_sealed").GetInt32() >= 2, counts.GetRawText());
        Assert.Equal(0, counts.GetProperty("failed").GetInt32());
        await StripSealAsync(plantedKey);

        // The upgrade ends: the setting goes.
        fixture.Settings.Remove(CredentialSeal.AcceptUnsealedKey);
        await fixture.RestartAsync();
        Assert.Equal(HttpStatusCode.OK, (await fixture.CreateClient(listedKey).GetAsync(Vaults)).StatusCode);
        await AssertError(await fixture.CreateClient(plantedKey).GetAsync(Vaults), HttpStatusCode.Unauthorized, "invalid or missing API key");
    }

    private async Task StripSealAsync(string key)
    {
        var serializer = new OrleansGrainStorageSerializer(fixture.SiloServices.GetRequiredService<Serializer>());
        var table = new TableServiceClient(fixture.Storage.ConnectionString).GetTableClient(fixture.Storage.ApiKeyTable);
        var hash = CredentialFormat.Hash(key);
        await foreach (var row in table.QueryAsync<TableEntity>())
        {
            if (row.PartitionKey.Contains(hash, StringComparison.Ordinal))
            {
                var name = row.Single(property => property.Value is byte[]).Key;
                var state = serializer.Deserialize<ApiKeyState>(BinaryData.FromBytes((byte[])row[name]))!;
                state.Seal = null;
                row[name] = serializer.Serialize(state).ToArray();
                await table.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace);
                return;
            }
        }

        throw new InvalidOperationException("no API key row");
    }
}
