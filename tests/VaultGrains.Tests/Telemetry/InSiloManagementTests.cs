using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using VaultGrains.Tests.Api;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Telemetry;

/// <summary>
/// The API process hosting the silo (<c>Api__HostSilo=true</c>, as <c>VAULT_MODE=in-silo ./run.sh</c>
/// starts it): health on the public listener, and one management listener whose <c>/metrics</c>
/// carries the API's, Orleans' and the silo's own instruments.
/// </summary>
public sealed class InSiloManagementTests
{
    [Fact]
    public async Task Health_and_the_metrics_of_api_and_silo_answer_from_the_one_process()
    {
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var address = new Uri($"http://127.0.0.1:{TestStorage.FreePort()}");
        var management = new Uri($"http://127.0.0.1:{TestStorage.FreePort()}");
        const string adminToken = "in-silo-admin-token-0123456789";
        await using var api = ServiceProcess.Start("api-in-silo", ServiceProcess.BuildOutput("Api", "VaultGrains.Api"), new Dictionary<string, string>(TestClusterTls.Environment("silo"))
        {
            ["Api__HostSilo"] = "true",
            ["ASPNETCORE_URLS"] = address.ToString(),
            ["Management__Port"] = $"{management.Port}",
            ["Admin__Token"] = adminToken,
            ["Storage__ConnectionString"] = TestStorage.ConnectionString,
            ["Storage__Prefix"] = "i" + suffix,
            ["Orleans__Clustering"] = "AzureStorage",
            ["Orleans__ClusterId"] = "insilo-" + suffix,
            ["Orleans__ServiceId"] = "svc-" + suffix,
            ["Orleans__SiloPort"] = $"{TestStorage.FreePort()}",
            ["Orleans__GatewayPort"] = $"{TestStorage.FreePort()}",
            ["Encryption__Provider"] = "Local",
            ["Encryption__Local__KeyFile"] = Path.Combine(Directory.CreateTempSubdirectory("vaultgrains-key").FullName, "kek.key"),
            ["Logging__LogLevel__Default"] = "Warning",
        });
        await ProcessCluster.WaitUntilAsync(() => ProcessCluster.IsHealthyAsync(new Uri(address, "/healthz")), TimeSpan.FromSeconds(90), () => "the in-silo API did not become healthy\n" + api.RecentOutput);
        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
        var organization = await ApiFixture.ReadAsync(await http.PostAsJsonAsync("/api/admin/v1/organizations", new { name = "Ops" }));
        var key = await ApiFixture.ReadAsync(await http.PostAsJsonAsync($"/api/admin/v1/organizations/{organization.GetProperty("id").GetString()}/api-keys", new { name = "m" }));
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key.GetProperty("key").GetString());
        var vaultId = await ApiFixture.CreateVaultAsync(http);
        await ApiTestKit.CreateSecretAsync(http, vaultId, "ONE", "one-value", "api.example.com");

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz")).StatusCode);
        var metrics = await (await http.GetAsync(new Uri(management, "/metrics"))).Content.ReadAsStringAsync();
        Assert.Contains("http_server_request_duration_seconds", metrics);
        Assert.Contains("orleans_", metrics);
        Assert.True(TelemetryKit.Sample(metrics, "vaultgrains_vault_changes_total", "method=\"CreateSecret\"", "outcome=\"success\"") >= 1, "the silo's own instruments are missing");
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/metrics")).StatusCode);
    }
}
