using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Api;

/// <summary>
/// The API hosting the silo in its own process (<c>Api:HostSilo=true</c>): the same endpoints
/// answer the same way, grain calls stay in the process, and what was acknowledged survives a
/// restart of that one process.
/// </summary>
public sealed class InSiloApiTests(InSiloApiTests.Fixture fixture) : IClassFixture<InSiloApiTests.Fixture>
{
    [Fact]
    public async Task The_api_process_is_the_silo()
    {
        var silo = fixture.ApiServices.GetService<ILocalSiloDetails>();

        Assert.NotNull(silo);
        var health = await fixture.Client.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Contains("\"cluster\":\"reachable\"", await health.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Create_list_and_a_duplicate_answer_as_with_a_separate_silo()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var url = $"{Vaults}/{vaultId}/secrets";

        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync(url, new { env_key = "DATABASE_URL", value = "postgres://x" })).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync(url, new { env_key = "API_TOKEN", value = "t" })).StatusCode);
        var duplicate = await client.PostAsJsonAsync(url, new { env_key = "DATABASE_URL", value = "other" });

        Assert.Equal(HttpStatusCode.BadRequest, duplicate.StatusCode);
        Assert.Equal("""{"error":"env_key already exists in this vault"}""", await duplicate.Content.ReadAsStringAsync());
        var listed = await ApiFixture.ReadAsync(await client.GetAsync(url));
        Assert.Equal(["API_TOKEN", "DATABASE_URL"], listed.EnumerateArray().Select(s => s.GetProperty("env_key").GetString()).Order());
        var vaults = await ApiFixture.ReadAsync(await client.GetAsync(Vaults));
        Assert.Equal(2, vaults.EnumerateArray().Single(v => v.GetProperty("id").GetString() == vaultId).GetProperty("secret_count").GetInt32());
    }

    [Fact]
    public async Task What_was_acknowledged_survives_a_restart_of_the_process()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var key = client.DefaultRequestHeaders.Authorization!.Parameter!;
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var url = $"{Vaults}/{vaultId}/secrets";
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync(url, new { env_key = "KEPT", value = "kept-value" })).StatusCode);

        await fixture.RestartAsync();

        using var after = fixture.CreateClient(key);
        var listed = await ApiFixture.ReadAsync(await after.GetAsync(url));
        var secret = Assert.Single(listed.EnumerateArray());
        Assert.Equal("KEPT", secret.GetProperty("env_key").GetString());
        var vaults = await ApiFixture.ReadAsync(await after.GetAsync(Vaults));
        Assert.Contains(vaults.EnumerateArray(), v => v.GetProperty("id").GetString() == vaultId);
        Assert.False(string.IsNullOrEmpty(organizationId));
    }

    public sealed class Fixture : ApiFixture
    {
        // For RetriedCallTests: the silo is this process.
        protected override void ConfigureApi(IServiceCollection services) =>
            services.AddSingleton<IIncomingGrainCallFilter, VaultCallFaults>();

        protected override void ConfigureSettings(Dictionary<string, string?> settings)
        {
            settings["Api:HostSilo"] = "true";
            foreach (var (key, value) in TestClusterTls.Settings("silo"))
            {
                settings[key] = value;
            }
        }
    }
}
