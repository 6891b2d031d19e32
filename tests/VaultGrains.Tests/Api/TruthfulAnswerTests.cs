using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using VaultGrains.Grains;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Api;

/// <summary>A Key Vault stand-in that answers slower than the API waits for one grain call (1 s, no retries).</summary>
public sealed class SlowKeyServiceFixture : KeyVaultApiFixture
{
    public static readonly TimeSpan ApiCallTimeout = TimeSpan.FromSeconds(1);

    protected override void ConfigureSettings(Dictionary<string, string?> settings)
    {
        base.ConfigureSettings(settings);
        settings["ClusterCalls:Timeout"] = ApiCallTimeout.ToString();
        settings["ClusterCalls:RetryFor"] = "00:00:00";
    }

    protected override void ConfigureSilo(IServiceCollection services)
    {
        base.ConfigureSilo(services);
        services.DecorateKeyed<IGrainStorage>(StorageNames.Organizations, (_, inner) => new FaultInjectingGrainStorage(inner));
    }
}

/// <summary>
/// Issue 11, "answers that lie": a create that outlives the API's deadline is not reported as
/// "nothing written"; repeated with its Idempotency-Key it gets the real answer, made once.
/// </summary>
public sealed class TruthfulAnswerTests(SlowKeyServiceFixture fixture) : IClassFixture<SlowKeyServiceFixture>, IAsyncLifetime
{
    private const string UnknownWithKey = "outcome unknown: the change may have been made; send the request again with the same Idempotency-Key to get its answer";
    private const string UnknownWithoutKey = "outcome unknown: the change may have been made; check before sending it again (with an Idempotency-Key a repeat gets the real answer)";

    // Longer than the API's call timeout, shorter than the Key Vault client's own (2 s a try, 5 s in all).
    private static readonly TimeSpan SlowKeyService = TimeSpan.FromSeconds(1.6);

    public Task InitializeAsync()
    {
        fixture.StandIn.Reset();
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        fixture.StandIn.Reset();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_vault_create_past_the_deadline_says_its_outcome_is_unknown_and_the_vault_then_exists()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        fixture.StandIn.Delay = SlowKeyService;

        var response = await client.PostAsync(Vaults, Json("""{"name":"Slow"}"""));

        await AssertError(response, HttpStatusCode.ServiceUnavailable, UnknownWithoutKey);
        Assert.Equal("1", response.Headers.RetryAfter?.ToString());
        fixture.StandIn.Reset();
        await Task.Delay(SlowKeyService);
        Assert.Equal(["Slow"], (await ApiFixture.ReadAsync(await client.GetAsync(Vaults))).EnumerateArray().Select(v => Text(v, "name")));
    }

    [Fact]
    public async Task A_vault_create_past_the_deadline_repeated_with_its_key_gets_the_vault_it_made()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var key = Guid.NewGuid().ToString();
        fixture.StandIn.Delay = SlowKeyService;

        await AssertError(await PostAsync(client, Vaults, """{"name":"Slow"}""", key), HttpStatusCode.ServiceUnavailable, UnknownWithKey);
        fixture.StandIn.Reset();
        await Task.Delay(SlowKeyService);

        var repeated = await PostAsync(client, Vaults, """{"name":"Slow"}""", key);
        var again = await PostAsync(client, Vaults, """{"name":"Slow"}""", key);

        Assert.Equal(HttpStatusCode.Created, repeated.StatusCode);
        var body = await repeated.Content.ReadAsStringAsync();
        Assert.Equal(body, await again.Content.ReadAsStringAsync());
        var listed = await ApiFixture.ReadAsync(await client.GetAsync(Vaults));
        Assert.Equal([Text(JsonDocument.Parse(body).RootElement, "id")], listed.EnumerateArray().Select(v => Text(v, "id")));
    }

    [Fact]
    public async Task A_secret_create_past_the_deadline_repeated_with_its_key_gets_its_own_secret_not_env_key_exists()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await CreateVaultAsync(client);
        var key = Guid.NewGuid().ToString();
        await fixture.DeactivateAllAsync();
        fixture.StandIn.Delay = SlowKeyService;

        // The cold vault must unwrap its key first: the slow call.
        await AssertError(await PostAsync(client, Secrets(vaultId), """{"env_key":"TOKEN","value":"v1"}""", key), HttpStatusCode.ServiceUnavailable, UnknownWithKey);
        fixture.StandIn.Reset();
        await Task.Delay(SlowKeyService);

        var repeated = await PostAsync(client, Secrets(vaultId), """{"env_key":"TOKEN","value":"v1"}""", key);

        var text = await repeated.Content.ReadAsStringAsync();
        Assert.True(repeated.StatusCode == HttpStatusCode.Created, text);
        var listed = await ApiFixture.ReadAsync(await client.GetAsync(Secrets(vaultId)));
        Assert.Equal([Text(JsonDocument.Parse(text).RootElement, "id")], listed.EnumerateArray().Select(s => Text(s, "id")));
    }

    [Fact]
    public async Task An_api_key_create_past_the_deadline_repeated_with_its_key_gets_the_one_key_it_made()
    {
        var (organizationId, _, _) = await fixture.NewTenantAsync();
        var admin = fixture.CreateClient(ApiFixture.AdminToken);
        var url = $"/api/admin/v1/organizations/{organizationId}/api-keys";
        var key = Guid.NewGuid().ToString();
        FaultInjectingGrainStorage.HoldWrites(organizationId);
        try
        {
            await AssertError(await PostAsync(admin, url, """{"name":"deploy"}""", key), HttpStatusCode.ServiceUnavailable, UnknownWithKey);
        }
        finally
        {
            FaultInjectingGrainStorage.ReleaseWrites(organizationId);
        }

        var repeated = await PostAsync(admin, url, """{"name":"deploy"}""", key);

        var text = await repeated.Content.ReadAsStringAsync();
        Assert.True(repeated.StatusCode == HttpStatusCode.Created, text);
        var created = JsonDocument.Parse(text).RootElement;
        var listed = await ApiFixture.ReadAsync(await admin.GetAsync(url));
        Assert.Equal(2, listed.GetArrayLength());
        Assert.Contains(listed.EnumerateArray(), k => Text(k, "id") == Text(created, "id"));
        Assert.Equal(HttpStatusCode.OK, (await fixture.CreateClient(Text(created, "key")).GetAsync(Vaults)).StatusCode);
    }

    [Fact]
    public async Task A_503_that_wrote_nothing_is_not_kept_so_the_key_is_free_again()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var key = Guid.NewGuid().ToString();
        fixture.StandIn.DownWith = 503;

        await AssertError(await PostAsync(client, Vaults, """{"name":"First try"}""", key), HttpStatusCode.ServiceUnavailable, "key service unavailable");
        fixture.StandIn.Reset();

        // Not a mismatch: nothing was kept for the failed attempt.
        var second = await PostAsync(client, Vaults, """{"name":"Second try"}""", key);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.Equal(["Second try"], (await ApiFixture.ReadAsync(await client.GetAsync(Vaults))).EnumerateArray().Select(v => Text(v, "name")));
    }

    // A first Key Vault call (connection, token) can take longer than the 1 s this fixture allows:
    // the setup repeats its create with one Idempotency-Key until it has the answer.
    private static async Task<string> CreateVaultAsync(HttpClient client)
    {
        var key = Guid.NewGuid().ToString();
        for (var attempt = 1; ; attempt++)
        {
            var response = await PostAsync(client, Vaults, """{"name":"Production"}""", key);
            if (response.StatusCode == HttpStatusCode.Created || attempt == 5)
            {
                return Text(await ApiFixture.ReadAsync(response), "id");
            }

            await Task.Delay(500);
        }
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string url, string body, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = Json(body) };
        request.Headers.Add("Idempotency-Key", key);
        return await client.SendAsync(request);
    }
}
