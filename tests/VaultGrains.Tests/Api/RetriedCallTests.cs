using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Api;

/// <summary>
/// A grain call the API sends again (here: the vault first answered that its view of storage was
/// stale) carries what the caller sent, in both deployments. Within one process the grain is
/// handed the caller's own request object, which the runtime clears once answered.
/// </summary>
public abstract class RetriedCallTests(ApiFixture fixture)
{
    [Fact]
    public async Task A_retried_listing_carries_its_caller()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var url = $"{Vaults}/{vaultId}/secrets";
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync(url, new { env_key = "LISTED", value = "v" })).StatusCode);
        VaultCallFaults.FailNext(vaultId, nameof(IVaultGrain.ListSecretsJson), 2);

        var listed = await client.GetAsync(url);

        Assert.Equal(2, VaultCallFaults.FailedCount(vaultId, nameof(IVaultGrain.ListSecretsJson)));
        Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
        Assert.Equal(["LISTED"], (await ApiFixture.ReadAsync(listed)).EnumerateArray().Select(s => s.GetProperty("env_key").GetString()));
    }

    [Fact]
    public async Task A_retried_create_is_stored_once_with_what_was_sent()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var url = $"{Vaults}/{vaultId}/secrets";
        VaultCallFaults.FailNext(vaultId, nameof(IVaultGrain.CreateSecret), 1);

        var created = await client.PostAsJsonAsync(url, new { env_key = "RETRIED", value = "retried-value", allowed_domains = new[] { "api.example.com" } });

        Assert.Equal(1, VaultCallFaults.FailedCount(vaultId, nameof(IVaultGrain.CreateSecret)));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await ApiFixture.ReadAsync(created)).GetProperty("id").GetString();
        var secret = Assert.Single((await ApiFixture.ReadAsync(await client.GetAsync(url))).EnumerateArray());
        Assert.Equal(id, secret.GetProperty("id").GetString());
        Assert.Equal("RETRIED", secret.GetProperty("env_key").GetString());
        Assert.Equal(["api.example.com"], secret.GetProperty("allowed_domains").EnumerateArray().Select(d => d.GetString()));
    }
}

public sealed class RetriedCallsWithinTheProcessTests(InSiloApiTests.Fixture fixture) : RetriedCallTests(fixture), IClassFixture<InSiloApiTests.Fixture>;

public sealed class RetriedCallsThroughTheGatewayTests(RetriedCallsThroughTheGatewayTests.Fixture fixture) : RetriedCallTests(fixture), IClassFixture<RetriedCallsThroughTheGatewayTests.Fixture>
{
    public sealed class Fixture : ApiFixture
    {
        protected override void ConfigureSilo(IServiceCollection services) =>
            services.AddSingleton<IIncomingGrainCallFilter, VaultCallFaults>();
    }
}
