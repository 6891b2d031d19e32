using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using VaultGrains.Tests.Infrastructure;
using VaultGrains.Tests.Telemetry;

namespace VaultGrains.Tests.Api;

/// <summary>
/// <c>Admin:Port</c> puts the admin API on a listener of its own: there it answers and nothing else
/// does; on the public listener it is 404 like an unknown route, whatever Host header is sent.
/// Without the setting (./run.sh) the admin API stays on the public port.
/// </summary>
[Collection(nameof(ManagementCollection))]
public sealed class AdminListenerTests(ManagementFixture fixture)
{
    [Fact]
    public async Task With_an_admin_port_the_admin_api_answers_there_and_only_there()
    {
        var address = new Uri($"http://127.0.0.1:{TestStorage.FreePort()}");
        var adminAddress = new Uri($"http://127.0.0.1:{TestStorage.FreePort()}");
        var management = new Uri($"http://127.0.0.1:{TestStorage.FreePort()}");
        await using var api = fixture.StartApi(address, management, ManagementFixture.AdminToken, "api-admin-port", new Dictionary<string, string>
        {
            ["Admin__Port"] = $"{adminAddress.Port}",
        });
        await ProcessCluster.WaitUntilAsync(() => ProcessCluster.IsHealthyAsync(new Uri(address, "/healthz")), TimeSpan.FromSeconds(90), () => "the API did not start\n" + api.RecentOutput);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ManagementFixture.AdminToken);

        var created = await http.PostAsJsonAsync(new Uri(adminAddress, "/api/admin/v1/organizations"), new { name = "Ops" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var organizationId = (await ApiFixture.ReadAsync(created)).GetProperty("id").GetString();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(adminAddress, $"/api/admin/v1/organizations/{organizationId}"))).StatusCode);

        // The public listener: the admin API is not there, not even with the admin port in the Host header.
        var onPublic = await http.PostAsJsonAsync(new Uri(address, "/api/admin/v1/organizations"), new { name = "Ops" });
        Assert.Equal(HttpStatusCode.NotFound, onPublic.StatusCode);
        Assert.Equal("""{"error":"not found"}""", await onPublic.Content.ReadAsStringAsync());
        using var spoofed = new HttpRequestMessage(HttpMethod.Get, new Uri(address, $"/api/admin/v1/organizations/{organizationId}"));
        spoofed.Headers.Host = $"127.0.0.1:{adminAddress.Port}";
        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(spoofed)).StatusCode);

        // The admin listener: nothing but the admin API.
        foreach (var path in new[] { "/healthz", "/api/public/v1/vaults", "/openapi/v1.json", "/metrics" })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri(adminAddress, path))).StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(address, "/healthz"))).StatusCode);
    }

    [Fact]
    public async Task Without_an_admin_port_the_admin_api_stays_on_the_public_listener()
    {
        using var admin = fixture.CreateClient(ManagementFixture.AdminToken);

        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/admin/v1/organizations", new { name = "Ops" })).StatusCode);
    }
}
