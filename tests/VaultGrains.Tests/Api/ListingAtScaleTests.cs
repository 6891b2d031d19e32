using System.Net;
using System.Net.Http.Json;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Api;

/// <summary>
/// The per-vault limits (1,000 secrets, 8 MiB of values) and listings at the sizes API.md allows:
/// complete, in creation (id) order, even when the items were created concurrently.
/// </summary>
[Collection(nameof(ApiCollection))]
public sealed class ListingAtScaleTests(ApiFixture fixture)
{
    [Fact]
    public async Task A_vault_lists_its_1000_secrets_in_creation_order_and_refuses_the_1001st()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);

        var created = await Task.WhenAll(Enumerable.Range(0, 1_000).Select(async i =>
            await ApiFixture.ReadAsync(await client.PostAsJsonAsync(Secrets(vaultId), new { env_key = $"KEY_{i}", value = $"value-{i}" }))));
        await AssertError(await client.PostAsJsonAsync(Secrets(vaultId), new { env_key = "ONE_TOO_MANY", value = "v" }), HttpStatusCode.BadRequest, "vault is full");

        var listed = (await ApiFixture.ReadAsync(await client.GetAsync(Secrets(vaultId)))).EnumerateArray().Select(s => Text(s, "id")).ToArray();
        Assert.Equal(created.Select(s => Text(s, "id")).Order(StringComparer.Ordinal), listed);
        Assert.Equal(1_000, (await ApiFixture.ReadAsync(await client.GetAsync($"{Vaults}/{vaultId}"))).GetProperty("secret_count").GetInt32());
        Assert.Equal(1_000, (await ApiFixture.ReadAsync(await client.GetAsync(Vaults)))[0].GetProperty("secret_count").GetInt32());

        // Room again after a delete.
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync(Secret(vaultId, listed[500]))).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync(Secrets(vaultId), new { env_key = "ONE_TOO_MANY", value = "v" })).StatusCode);
    }

    [Fact]
    public async Task An_organization_lists_its_1000_vaults_in_creation_order()
    {
        var (_, client, _) = await fixture.NewTenantAsync();

        // Creates within one organization are serialized by its grain, and each waits at most a few
        // seconds for the cluster (then 503): a client creating 1,000 vaults keeps a bounded number
        // in flight, as this one does.
        using var inFlight = new SemaphoreSlim(16);
        var created = await Task.WhenAll(Enumerable.Range(0, 1_000).Select(async i =>
        {
            await inFlight.WaitAsync();
            try
            {
                return await ApiFixture.CreateVaultAsync(client, $"vault {i}");
            }
            finally
            {
                inFlight.Release();
            }
        }));

        var listed = (await ApiFixture.ReadAsync(await client.GetAsync(Vaults))).EnumerateArray().ToArray();
        Assert.Equal(created.Order(StringComparer.Ordinal), listed.Select(v => Text(v, "id")));
        Assert.All(listed, v => Assert.Equal(0, v.GetProperty("secret_count").GetInt32()));
        Assert.Equal(created.Select((id, i) => (id, $"vault {i}")).OrderBy(p => p.id, StringComparer.Ordinal).Select(p => p.Item2), listed.Select(v => Text(v, "name")));
    }

    [Fact]
    public async Task A_vault_holds_at_most_8_MiB_of_values_on_create_and_on_rotation()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var full = new string('v', 65_536);

        var created = await Task.WhenAll(Enumerable.Range(0, 128).Select(async i =>
            await ApiFixture.ReadAsync(await client.PostAsJsonAsync(Secrets(vaultId), new { env_key = $"BIG_{i}", value = full }))));

        await AssertError(await client.PostAsJsonAsync(Secrets(vaultId), new { env_key = "ONE_BYTE", value = "v" }), HttpStatusCode.BadRequest, "vault is full");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync(Secret(vaultId, Text(created[0], "id")))).StatusCode);
        var small = await CreateSecretAsync(client, vaultId, "SMALL", "tiny");
        await CreateSecretAsync(client, vaultId, "FILL", new string('f', 65_536 - 4));
        var smallUrl = Secret(vaultId, Text(small, "id"));

        // Exactly 8 MiB now: one more byte through a rotation is refused, the same size is not.
        await AssertError(await client.PatchAsJsonAsync(smallUrl, new { value = "tiny!" }), HttpStatusCode.BadRequest, "vault is full");
        Assert.Equal(small.GetRawText(), (await ApiFixture.ReadAsync(await client.GetAsync(smallUrl))).GetRawText());
        Assert.Equal(HttpStatusCode.OK, (await client.PatchAsJsonAsync(smallUrl, new { value = "TINY" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PatchAsJsonAsync(Secret(vaultId, Text(created[1], "id")), new { value = new string('w', 65_536) })).StatusCode);
    }
}
