using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using VaultGrains.Tests.Api;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Telemetry;

/// <summary>
/// The processes as ./run.sh starts them, each with its management listener on loopback: a silo,
/// the API (JSON logs, tracing on), the secret proxy, on an Azurite of their own.
/// </summary>
public sealed class ManagementFixture : IAsyncLifetime
{
    public const string AdminToken = "management-admin-token-0123456789";
    private readonly string suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
    private readonly string keyFile = Path.Combine(Directory.CreateTempSubdirectory("vaultgrains-key").FullName, "kek.key");

    public AzuriteInstance Azurite { get; private set; } = null!;

    public ServiceProcess Silo { get; private set; } = null!;

    public ServiceProcess Api { get; private set; } = null!;

    public ServiceProcess Proxy { get; private set; } = null!;

    public Uri ApiAddress { get; } = new($"http://127.0.0.1:{TestStorage.FreePort()}");

    public Uri ApiManagement { get; } = new($"http://127.0.0.1:{TestStorage.FreePort()}");

    public Uri SiloManagement { get; } = new($"http://127.0.0.1:{TestStorage.FreePort()}");

    public Uri ProxyAddress { get; } = new($"http://127.0.0.1:{TestStorage.FreePort()}");

    public Uri ProxyManagement { get; } = new($"http://127.0.0.1:{TestStorage.FreePort()}");

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    public async Task InitializeAsync()
    {
        Azurite = AzuriteInstance.Start();
        Silo = ServiceProcess.Start("silo", ServiceProcess.BuildOutput("Silo", "VaultGrains.Silo"), new Dictionary<string, string>(CommonSettings().Concat(TestClusterTls.Environment("silo")))
        {
            ["Orleans__SiloPort"] = $"{TestStorage.FreePort()}",
            ["Orleans__GatewayPort"] = $"{TestStorage.FreePort()}",
            ["Encryption__Provider"] = "Local",
            ["Encryption__Local__KeyFile"] = keyFile,
            ["Management__Port"] = $"{SiloManagement.Port}",
        });
        Api = StartApi(ApiAddress, ApiManagement, AdminToken);
        await ProcessCluster.WaitUntilAsync(() => ProcessCluster.IsHealthyAsync(new Uri(ApiAddress, "/healthz")), TimeSpan.FromSeconds(90), () => "the API did not become healthy\n" + Api.RecentOutput + Silo.RecentOutput);
        Proxy = ServiceProcess.Start("proxy", ServiceProcess.BuildOutput("Proxy", "VaultGrains.Proxy"), new Dictionary<string, string>(CommonSettings().Concat(TestClusterTls.Environment("proxy")))
        {
            ["Proxy__Address"] = "127.0.0.1",
            ["Proxy__Port"] = $"{ProxyAddress.Port}",
            ["Management__Port"] = $"{ProxyManagement.Port}",
        });
        // As long as the API gets: the proxy joins the cluster before it listens, and in a full run
        // it starts beside many other fixtures' processes on two cores.
        await ProcessCluster.WaitUntilAsync(() => ProcessCluster.IsHealthyAsync(new Uri(ProxyManagement, "/metrics")), TimeSpan.FromSeconds(90),
            () => "the proxy's metrics did not answer\n" + Proxy.RecentOutput + Silo.RecentOutput);
    }

    /// <summary>An API process on the cluster; <paramref name="adminToken"/> empty for one without an admin API.</summary>
    public ServiceProcess StartApi(Uri address, Uri management, string adminToken, string name = "api", IReadOnlyDictionary<string, string>? settings = null) =>
        ServiceProcess.Start(name, ServiceProcess.BuildOutput("Api", "VaultGrains.Api"), new Dictionary<string, string>(CommonSettings().Concat(TestClusterTls.Environment("api")).Concat(settings ?? new Dictionary<string, string>()))
        {
            ["ASPNETCORE_URLS"] = address.ToString(),
            ["Admin__Token"] = adminToken,
            ["Management__Port"] = $"{management.Port}",
            ["Telemetry__Tracing"] = "true",
            ["Logging__LogLevel__Microsoft.AspNetCore.Hosting.Diagnostics"] = "Information",
        });

    public async Task DisposeAsync()
    {
        Http.Dispose();
        foreach (var process in new[] { Proxy, Api, Silo }.OfType<ServiceProcess>())
        {
            await process.DisposeAsync();
        }

        await Azurite.DisposeAsync();
    }

    public async Task<string> ScrapeAsync(Uri management)
    {
        var response = await Http.GetAsync(new Uri(management, "/metrics"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return text;
    }

    public HttpClient CreateClient(string? bearer = null)
    {
        var client = new HttpClient { BaseAddress = ApiAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    public async Task<(HttpClient Client, string OrganizationId, string KeyId)> NewTenantAsync()
    {
        using var admin = CreateClient(AdminToken);
        var organization = await ApiFixture.ReadAsync(await admin.PostAsJsonAsync("/api/admin/v1/organizations", new { name = "Ops" }));
        var organizationId = organization.GetProperty("id").GetString()!;
        var key = await ApiFixture.ReadAsync(await admin.PostAsJsonAsync($"/api/admin/v1/organizations/{organizationId}/api-keys", new { name = "metrics" }));
        return (CreateClient(key.GetProperty("key").GetString()), organizationId, key.GetProperty("id").GetString()!);
    }

    public Dictionary<string, string> CommonSettings() => new()
    {
        ["Storage__ConnectionString"] = Azurite.ConnectionString,
        ["Storage__Prefix"] = "m" + suffix,
        ["Orleans__Clustering"] = "AzureStorage",
        ["Orleans__ClusterId"] = "mgmt-" + suffix,
        ["Orleans__ServiceId"] = "svc-" + suffix,
        ["Logging__Format"] = "json",
        ["Logging__LogLevel__Default"] = "Warning",
        ["Logging__LogLevel__VaultGrains"] = "Information",
    };
}

[CollectionDefinition(nameof(ManagementCollection))]
public sealed class ManagementCollection : ICollectionFixture<ManagementFixture>;

[Collection(nameof(ManagementCollection))]
public sealed class ManagementTests(ManagementFixture fixture)
{
    [Fact]
    public async Task Metrics_are_served_on_each_management_port_and_never_on_a_public_listener()
    {
        var api = await fixture.ScrapeAsync(fixture.ApiManagement);
        Assert.Contains("http_server_request_duration_seconds", api);
        Assert.Contains("orleans_", api);
        var silo = await fixture.ScrapeAsync(fixture.SiloManagement);
        Assert.Contains("orleans_", silo);
        await fixture.ScrapeAsync(fixture.ProxyManagement);

        foreach (var path in new[] { "/metrics", "/dashboard", "/dashboard/" })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await fixture.Http.GetAsync(new Uri(fixture.ApiAddress, path))).StatusCode);
        }

        // The management port serves nothing of the public API.
        foreach (var path in new[] { "/healthz", "/api/public/v1/vaults", "/openapi/v1.json", "/docs" })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await fixture.Http.GetAsync(new Uri(fixture.ApiManagement, path))).StatusCode);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await fixture.Http.GetAsync(new Uri(fixture.SiloManagement, "/healthz"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await fixture.Http.GetAsync(new Uri(fixture.ProxyManagement, "/healthz"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.GetAsync(new Uri(fixture.ProxyAddress, "/healthz"))).StatusCode);
        Assert.DoesNotContain("# TYPE", await (await fixture.Http.GetAsync(new Uri(fixture.ProxyAddress, "/metrics"))).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_dashboard_answers_only_with_the_admin_token()
    {
        var dashboard = new Uri(fixture.ApiManagement, "/dashboard/");
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(dashboard, null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(dashboard, new("Bearer", "not-the-admin-token-0123456789"))).StatusCode);
        var (_, _, _) = await fixture.NewTenantAsync();
        var ok = await Get(dashboard, new("Bearer", ManagementFixture.AdminToken));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Contains("html", ok.Content.Headers.ContentType?.MediaType ?? "", StringComparison.OrdinalIgnoreCase);
        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{ManagementFixture.AdminToken}"));
        Assert.Equal(HttpStatusCode.OK, (await Get(dashboard, new("Basic", basic))).StatusCode);
        var unauthorized = await Get(dashboard, null);
        Assert.Contains("Basic", unauthorized.Headers.WwwAuthenticate.ToString());

        // Without an admin token configured there is no dashboard at all, like the admin API.
        var address = new Uri($"http://127.0.0.1:{TestStorage.FreePort()}");
        var management = new Uri($"http://127.0.0.1:{TestStorage.FreePort()}");
        await using var tokenless = fixture.StartApi(address, management, adminToken: "", name: "api-no-token");
        await ProcessCluster.WaitUntilAsync(() => ProcessCluster.IsHealthyAsync(new Uri(address, "/healthz")), TimeSpan.FromSeconds(90), () => "the second API did not start\n" + tokenless.RecentOutput);
        Assert.Equal(HttpStatusCode.NotFound, (await Get(new Uri(management, "/dashboard/"), new("Bearer", ManagementFixture.AdminToken))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.GetAsync(new Uri(management, "/metrics"))).StatusCode);
    }

    [Fact]
    public async Task The_audit_trails_appends_are_measured_as_a_storage_provider_of_their_own()
    {
        var before = await fixture.ScrapeAsync(fixture.SiloManagement);
        var (client, _, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        await ApiTestKit.CreateSecretAsync(client, vaultId, "MEASURED", "value-not-in-metrics", "api.example.com");

        // A query writes what waits first: the vault's and the secret's events are appended by now.
        var events = await client.GetFromJsonAsync<JsonElement>("/api/public/v1/audit-events");
        var actions = events.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("action").GetString()).ToList();
        Assert.Contains("vault.create", actions);
        Assert.Contains("secret.create", actions);

        var after = await fixture.ScrapeAsync(fixture.SiloManagement);
        double Delta(string name, params string[] labels) => TelemetryKit.Sample(after, name, labels) - TelemetryKit.Sample(before, name, labels);
        Assert.True(Delta("vaultgrains_storage_write_duration_seconds_count", "provider=\"audit\"", "outcome=\"success\"") >= 1);
        Assert.True(Delta("vaultgrains_storage_write_duration_seconds_sum", "provider=\"audit\"") > 0);
        // Two events of a few hundred bytes each at least: the whole lines, hash and JSON.
        Assert.True(Delta("vaultgrains_storage_write_size_bytes_sum", "provider=\"audit\"") >= 2 * 300);
        Assert.Equal(0, Delta("vaultgrains_storage_write_duration_seconds_count", "provider=\"audit\"", "outcome=\"error\""));
        Assert.DoesNotContain("value-not-in-metrics", after);
    }

    [Fact]
    public async Task After_creates_the_instruments_count_them_and_no_label_holds_a_value_or_an_id()
    {
        const int creates = 6;
        const string canary = "canary-Hq3vT8wLm2Xr";
        var before = await fixture.ScrapeAsync(fixture.SiloManagement);
        var (client, organizationId, keyId) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var ids = new List<string> { organizationId, keyId, vaultId };
        for (var i = 0; i < creates; i++)
        {
            var secret = await ApiTestKit.CreateSecretAsync(client, vaultId, $"CANARY_{i}", $"{canary}-{i}", "api.example.com");
            ids.Add(secret.GetProperty("id").GetString()!);
        }

        var duplicate = await client.PostAsJsonAsync(ApiTestKit.Secrets(vaultId), new { env_key = "CANARY_0", value = canary, allowed_domains = Array.Empty<string>() });
        Assert.Equal(HttpStatusCode.BadRequest, duplicate.StatusCode);
        using var stranger = fixture.CreateClient("nr_" + new string('A', 43));
        Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.GetAsync(ApiTestKit.Vaults)).StatusCode);

        var after = await fixture.ScrapeAsync(fixture.SiloManagement);
        double Delta(string name, params string[] labels) => TelemetryKit.Sample(after, name, labels) - TelemetryKit.Sample(before, name, labels);

        Assert.Equal(creates, Delta("vaultgrains_vault_changes_total", "method=\"CreateSecret\"", "outcome=\"success\""));
        Assert.Equal(1, Delta("vaultgrains_vault_changes_total", "method=\"CreateSecret\"", "outcome=\"env_key_exists\""));
        Assert.Equal(1, Delta("vaultgrains_vault_changes_total", "method=\"Create\"", "outcome=\"success\""));
        Assert.Equal(creates + 1, Delta("vaultgrains_vault_change_duration_seconds_count", "outcome=\"success\""));

        // One write per change (they came one at a time): the vault's creation and each secret.
        var writes = Delta("vaultgrains_storage_write_duration_seconds_count", "provider=\"vaults\"", "outcome=\"success\"");
        Assert.Equal(creates + 1, writes);
        Assert.Equal(creates + 1, Delta("vaultgrains_storage_write_size_bytes_count", "provider=\"vaults\""));
        Assert.InRange(Delta("vaultgrains_storage_write_size_bytes_sum", "provider=\"vaults\""), 100 * (creates + 1), 1_000_000);
        Assert.True(Delta("vaultgrains_storage_write_duration_seconds_sum", "provider=\"vaults\"") > 0);

        // Batches of one, recorded as the next write completes: all but the last.
        Assert.Equal(creates, Delta("vaultgrains_vault_batch_size_count"));
        Assert.Equal(creates, Delta("vaultgrains_vault_batch_size_sum"));
        Assert.True(Delta("vaultgrains_storage_read_duration_seconds_count", "provider=\"vaults\"") >= 1, "the new vault's activation read its state");

        var api = await fixture.ScrapeAsync(fixture.ApiManagement);
        Assert.True(TelemetryKit.Sample(api, "vaultgrains_api_authentication_failures_total", "scheme=\"api_key\"") >= 1);
        Assert.True(TelemetryKit.Sample(api, "http_server_request_duration_seconds_count", "/secrets", "http_response_status_code=\"201\"") >= creates);

        var proxy = await fixture.ScrapeAsync(fixture.ProxyManagement);
        foreach (var (process, text) in new[] { ("api", api), ("silo", after), ("proxy", proxy) })
        {
            Assert.DoesNotContain(canary, text);
            Assert.False(TelemetryKit.ResourceId().IsMatch(text), $"{process} metrics hold an id: {TelemetryKit.ResourceId().Match(text).Value}");
            Assert.DoesNotContain(ids, id => text.Contains(id, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task With_Logging_Format_json_every_log_line_is_json_and_request_lines_carry_the_trace_id()
    {
        var (client, _, _) = await fixture.NewTenantAsync();
        await ApiFixture.CreateVaultAsync(client);
        var traced = false;
        await ProcessCluster.WaitUntilAsync(() =>
        {
            traced = Lines(fixture.Api).Any(line => line.Contains("\"TraceId\"", StringComparison.Ordinal));
            return Task.FromResult(traced);
        }, TimeSpan.FromSeconds(10), "no API log line with a trace id:\n" + fixture.Api.RecentOutput);

        foreach (var process in new[] { fixture.Api, fixture.Silo, fixture.Proxy })
        {
            // The silo and the proxy log little at Warning; whatever they wrote must be JSON too.
            foreach (var line in Lines(process))
            {
                using var json = JsonDocument.Parse(line);
                Assert.True(json.RootElement.TryGetProperty("Timestamp", out _), $"{process.Name}: {line}");
                Assert.True(json.RootElement.TryGetProperty("Category", out _), $"{process.Name}: {line}");
            }
        }

        var request = Lines(fixture.Api).Select(l => JsonDocument.Parse(l).RootElement).First(e => e.GetRawText().Contains("\"TraceId\"", StringComparison.Ordinal));
        var traceId = request.GetProperty("Scopes").EnumerateArray().First(s => s.ValueKind == JsonValueKind.Object && s.TryGetProperty("TraceId", out _)).GetProperty("TraceId").GetString();
        Assert.Matches("^[0-9a-f]{32}$", traceId);
    }

    private static IEnumerable<string> Lines(ServiceProcess process) =>
        process.RecentOutput.Split('\n').Skip(1).Where(l => l.Length > 0);

    private async Task<HttpResponseMessage> Get(Uri uri, AuthenticationHeaderValue? authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        request.Headers.Authorization = authorization;
        return await fixture.Http.SendAsync(request);
    }
}
