using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Azure.Data.Tables;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;
using VaultGrains.Domain;
using VaultGrains.Grains;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Api;

/// <summary>
/// Issue 11, authenticated state: API key and runtime records are sealed under the cluster's state key
/// (held in storage only wrapped by the KEK). Someone who can write the Table rows in Azurite moves a key
/// to another organization, un-revokes one, forges one for a key of their own, and points a runtime at
/// their own token: each is refused as an integrity failure, with an Error naming the record.
/// </summary>
[Collection(nameof(ApiCollection))]
public sealed class SealedRecordTests(ApiFixture fixture)
{
    private const string Organizations = "/api/admin/v1/organizations";

    private HttpClient Admin => fixture.CreateClient(ApiFixture.AdminToken);

    private IGrainFactory Grains => fixture.SiloServices.GetRequiredService<IGrainFactory>();

    private OrleansGrainStorageSerializer StorageSerializer => new(fixture.SiloServices.GetRequiredService<Serializer>());

    [Fact]
    public async Task An_api_key_record_moved_to_another_organization_in_storage_is_refused()
    {
        var (_, victim, _) = await fixture.NewTenantAsync("Victim");
        await ApiFixture.CreateVaultAsync(victim, "victim's vault");
        var (_, attacker, attackerKeyId) = await fixture.NewTenantAsync("Attacker");
        var attackerKey = attacker.DefaultRequestHeaders.Authorization!.Parameter!;
        var victimOrganization = (await Grains.GetGrain<IApiKeyGrain>(CredentialFormat.Hash(victim.DefaultRequestHeaders.Authorization!.Parameter!)).Resolve())!.OrganizationId;

        await EditApiKeyAsync(attackerKey, state => state.OrganizationId = victimOrganization);
        await DeactivateAllAsync();

        await AssertError(await attacker.GetAsync(Vaults), HttpStatusCode.Unauthorized, "invalid or missing API key");
        AssertIntegrityErrorLogged(attackerKeyId);
    }

    [Fact]
    public async Task A_revoked_api_key_un_revoked_in_storage_stays_refused()
    {
        var (organizationId, client, keyId) = await fixture.NewTenantAsync();
        var key = client.DefaultRequestHeaders.Authorization!.Parameter!;
        Assert.Equal(HttpStatusCode.NoContent, (await Admin.DeleteAsync($"{Organizations}/{organizationId}/api-keys/{keyId}")).StatusCode);

        await EditApiKeyAsync(key, state => state.Revoked = false);
        await DeactivateAllAsync();

        await AssertError(await fixture.CreateClient(key).GetAsync(Vaults), HttpStatusCode.Unauthorized, "invalid or missing API key");
        AssertIntegrityErrorLogged(keyId);
    }

    [Fact]
    public async Task A_forged_api_key_record_for_a_chosen_key_is_refused_with_a_copied_seal_or_none()
    {
        var (_, client, _) = await fixture.NewTenantAsync("Forged into");
        var realHash = CredentialFormat.Hash(client.DefaultRequestHeaders.Authorization!.Parameter!);
        var (row, state) = await ReadApiKeyAsync(realHash);

        foreach (var seal in new[] { state.Seal, null })
        {
            var chosen = Credentials.ApiKey.Generate();
            var forgedKeyId = ResourceId.New(ResourceId.ApiKey);
            var forged = new TableEntity(row) { PartitionKey = row.PartitionKey.Replace(realHash, CredentialFormat.Hash(chosen), StringComparison.Ordinal), ETag = default };
            SetState(forged, new ApiKeyState { OrganizationId = state.OrganizationId, KeyId = forgedKeyId, Seal = seal });
            await ApiKeyTable.AddEntityAsync(forged);

            await AssertError(await fixture.CreateClient(chosen).GetAsync(Vaults), HttpStatusCode.Unauthorized, "invalid or missing API key");
            AssertIntegrityErrorLogged(forgedKeyId);
        }

        // The genuine key is untouched by all this.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(Vaults)).StatusCode);
    }

    [Fact]
    public async Task A_runtime_record_pointed_at_another_token_in_storage_releases_nothing()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        await CreateSecretAsync(client, vaultId, "API_KEY", "runtime-seal-value");
        var runtime = await ApiFixture.ReadAsync(await client.PostAsJsonAsync("/api/public/v1/runtimes", new { name = "agent", vault_ids = new[] { vaultId } }));
        var runtimeId = Text(runtime, "id");
        var genuineHash = CredentialFormat.Hash(Text(runtime, "token"));
        Assert.True((await Grains.GetGrain<IRuntimeGrain>(runtimeId).Release(genuineHash)).Succeeded);

        var attackerToken = Credentials.RuntimeToken.Generate();
        var table = new TableServiceClient(fixture.Storage.ConnectionString).GetTableClient(fixture.Storage.RuntimeTable);
        var row = await FindRowAsync(table, runtimeId);
        var state = StorageSerializer.Deserialize<RuntimeState>(BinaryData.FromBytes(StateBytes(row)))!;
        state.TokenHash = CredentialFormat.Hash(attackerToken);
        SetState(row, state);
        await table.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace);
        await DeactivateAllAsync();

        Assert.Equal(VaultError.RuntimeNotFound, (await Grains.GetGrain<IRuntimeGrain>(runtimeId).Release(CredentialFormat.Hash(attackerToken))).Error);
        Assert.Null(await Grains.GetGrain<IRuntimeGrain>(runtimeId).CheckStamp(CredentialFormat.Hash(attackerToken)));
        await AssertError(await client.GetAsync($"/api/public/v1/runtimes/{runtimeId}"), HttpStatusCode.NotFound, "runtime not found");
        Assert.Contains(fixture.Logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal) && line.Contains(runtimeId, StringComparison.Ordinal) && line.Contains("integrity", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Sealed_records_survive_a_restart_and_the_state_key_is_stored_only_wrapped()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        await DeactivateAllAsync();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(Vaults)).StatusCode);

        // The sealing walk finds nothing to do on records that were sealed when written.
        var counts = await ApiFixture.ReadAsync(await Admin.PostAsync("/api/admin/v1/maintenance/seal-records", null));
        Assert.Equal(0, counts.GetProperty("api_keys_sealed").GetInt32());
        Assert.Equal(0, counts.GetProperty("failed").GetInt32());

        var table = new TableServiceClient(fixture.Storage.ConnectionString).GetTableClient(fixture.Storage.RuntimeTable);
        var row = await FindRowAsync(table, "statekey");
        var stored = StorageSerializer.Deserialize<StateKeyState>(BinaryData.FromBytes(StateBytes(row)))!;
        Assert.NotNull(stored.Key);
        Assert.NotEqual(32, stored.Key!.Bytes.Length);
    }

    private TableClient ApiKeyTable => new TableServiceClient(fixture.Storage.ConnectionString).GetTableClient(fixture.Storage.ApiKeyTable);

    private async Task<(TableEntity Row, ApiKeyState State)> ReadApiKeyAsync(string hash)
    {
        var row = await FindRowAsync(ApiKeyTable, hash);
        return (row, StorageSerializer.Deserialize<ApiKeyState>(BinaryData.FromBytes(StateBytes(row)))!);
    }

    private async Task EditApiKeyAsync(string key, Action<ApiKeyState> edit)
    {
        var (row, state) = await ReadApiKeyAsync(CredentialFormat.Hash(key));
        edit(state);
        SetState(row, state);
        await ApiKeyTable.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace);
    }

    private static async Task<TableEntity> FindRowAsync(TableClient table, string id)
    {
        await foreach (var row in table.QueryAsync<TableEntity>())
        {
            if (row.PartitionKey.Contains(id, StringComparison.Ordinal) || row.RowKey.Contains(id, StringComparison.Ordinal))
            {
                return row;
            }
        }

        throw new InvalidOperationException($"no row for {id}");
    }

    private static byte[] StateBytes(TableEntity row) => row.Single(property => property.Value is byte[]).Value as byte[] ?? [];

    private void SetState<T>(TableEntity row, T state)
    {
        var name = row.Single(property => property.Value is byte[]).Key;
        row[name] = StorageSerializer.Serialize(state).ToArray();
    }

    private Task DeactivateAllAsync() => Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

    private void AssertIntegrityErrorLogged(string keyId) =>
        Assert.Contains(fixture.Logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal) && line.Contains(keyId, StringComparison.Ordinal) && line.Contains("integrity", StringComparison.Ordinal));
}
