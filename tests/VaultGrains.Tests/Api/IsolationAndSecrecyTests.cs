using System.Net;
using System.Net.Http.Json;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Api;

/// <summary>Organizations never see each other's vaults, and no endpoint ever answers with a secret value.</summary>
[Collection(nameof(ApiCollection))]
public sealed class IsolationAndSecrecyTests(ApiFixture fixture)
{
    [Fact]
    public async Task Every_endpoint_answers_404_for_another_organizations_vault_and_changes_nothing()
    {
        var (_, owner, _) = await fixture.NewTenantAsync("Owner");
        var (_, stranger, _) = await fixture.NewTenantAsync("Stranger");
        var vaultId = await ApiFixture.CreateVaultAsync(owner, "Owned");
        var secret = await CreateSecretAsync(owner, vaultId, "OWNED", "owned-value", "api.example.com");
        var secretId = Text(secret, "id");
        var vault = await ApiFixture.ReadAsync(await owner.GetAsync($"{Vaults}/{vaultId}"));
        await ApiFixture.CreateVaultAsync(stranger, "Theirs");

        await AssertError(await stranger.GetAsync($"{Vaults}/{vaultId}"), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await stranger.PatchAsJsonAsync($"{Vaults}/{vaultId}", new { name = "Stolen" }), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await stranger.PatchAsync($"{Vaults}/{vaultId}", Json("""{"name":""}""")), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await stranger.PatchAsync($"{Vaults}/{vaultId}", Json("{}")), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await stranger.DeleteAsync($"{Vaults}/{vaultId}"), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await stranger.GetAsync(Secrets(vaultId)), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await stranger.PostAsJsonAsync(Secrets(vaultId), new { env_key = "NEW", value = "v" }), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await stranger.GetAsync(Secret(vaultId, secretId)), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await stranger.PatchAsJsonAsync(Secret(vaultId, secretId), new { value = "overwritten" }), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await stranger.PatchAsync(Secret(vaultId, secretId), Json("""{"value":""}""")), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await stranger.DeleteAsync(Secret(vaultId, secretId)), HttpStatusCode.NotFound, "vault not found");
        Assert.DoesNotContain(vaultId, await (await stranger.GetAsync(Vaults)).Content.ReadAsStringAsync());

        Assert.Equal(vault.GetRawText(), (await ApiFixture.ReadAsync(await owner.GetAsync($"{Vaults}/{vaultId}"))).GetRawText());
        Assert.Equal(secret.GetRawText(), (await ApiFixture.ReadAsync(await owner.GetAsync(Secret(vaultId, secretId)))).GetRawText());
        Assert.Equal([vaultId], (await ApiFixture.ReadAsync(await owner.GetAsync(Vaults))).EnumerateArray().Select(v => Text(v, "id")));
    }

    /// <summary>
    /// Walks every public and admin endpoint, on success and error paths, with one canary value,
    /// then checks every response the test run has recorded so far (bodies and headers) and every log line.
    /// </summary>
    [Fact]
    public async Task The_value_appears_in_no_response_of_any_endpoint_and_no_log_line()
    {
        var canary = "canary-" + Guid.NewGuid().ToString("N");
        var admin = fixture.CreateClient(ApiFixture.AdminToken);
        var (organizationId, client, keyId) = await fixture.NewTenantAsync();
        var (_, stranger, _) = await fixture.NewTenantAsync("Stranger");
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var otherVault = await ApiFixture.CreateVaultAsync(client, "Other");

        var created = await CreateSecretAsync(client, vaultId, "CANARY", canary, "api.example.com");
        var url = Secret(vaultId, Text(created, "id"));
        await client.PostAsJsonAsync(Secrets(vaultId), new { env_key = "CANARY", value = canary });
        await client.PostAsJsonAsync(Secrets(vaultId), new { env_key = "bad key", value = canary });
        await client.PostAsJsonAsync(Secrets(vaultId), new { env_key = "NAIRI_X", value = canary });
        await client.PostAsJsonAsync(Secrets(vaultId), new { env_key = "X", value = canary + new string('x', 70_000) });
        await client.PostAsJsonAsync(Secrets(vaultId), new { env_key = "X", value = canary, allowed_domains = new[] { "*" } });
        await client.PostAsync(Secrets(vaultId), Json($$"""{"env_key":"X","value":"{{canary}}" """));
        await client.PostAsync(Secrets(vaultId), Json($$"""{"env_key":"X","value":"{{canary}}","pad":"{{new string('x', 1_100_000)}}"}"""));
        await client.PostAsJsonAsync(Secrets(UnknownVault), new { env_key = "X", value = canary });
        await stranger.PostAsJsonAsync(Secrets(vaultId), new { env_key = "X", value = canary });
        await client.GetAsync(Secrets(vaultId));
        await client.GetAsync(url);
        await client.PatchAsJsonAsync(url, new { value = canary });
        await client.PatchAsJsonAsync(url, new { value = canary + "-rotated" });
        await client.PatchAsJsonAsync(url, new { value = canary, env_key = "OTHER" });
        await client.PatchAsJsonAsync(url, new { value = canary, allowed_domains = new[] { "*.com" } });
        await client.PatchAsJsonAsync(Secret(otherVault, Text(created, "id")), new { value = canary });
        await client.PatchAsync(url, Json($$"""{"value":"{{canary}}" """));
        await stranger.PatchAsJsonAsync(url, new { value = canary });
        await client.GetAsync(Secrets(vaultId));
        await client.GetAsync(url);
        await client.GetAsync(Vaults);
        await client.GetAsync($"{Vaults}/{vaultId}");
        await client.PatchAsJsonAsync($"{Vaults}/{vaultId}", new { name = "Renamed" });
        await client.DeleteAsync($"{Vaults}/{vaultId}");
        await client.DeleteAsync(url);
        await client.DeleteAsync($"{Vaults}/{vaultId}");
        await admin.GetAsync($"/api/admin/v1/organizations/{organizationId}");
        await admin.GetAsync($"/api/admin/v1/organizations/{organizationId}/api-keys");
        await admin.DeleteAsync($"/api/admin/v1/organizations/{organizationId}/api-keys/{keyId}");
        await fixture.Client.GetAsync("/healthz");
        await fixture.Client.GetAsync("/openapi/v1.json");

        Assert.True(fixture.Responses.Bodies.Count > 30, "responses were not recorded: the test would prove nothing");
        Assert.True(fixture.Logs.Lines.Count > 0, "no log line captured: the test would prove nothing");
        Assert.DoesNotContain(fixture.Responses.Bodies, body => body.Contains(canary, StringComparison.Ordinal));
        Assert.DoesNotContain(fixture.Logs.Lines, line => line.Contains(canary, StringComparison.Ordinal));
    }
}
