using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using VaultGrains.Domain;
using VaultGrains.Hosting.Audit;
using VaultGrains.Proxy.Cluster;
using VaultGrains.Tests.Api;
using VaultGrains.Tests.Infrastructure;
using VaultGrains.Tests.Proxy;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Audit;

/// <summary>
/// The API and the proxy on one cluster whose audit store can be switched off. Summaries are written
/// when a test flushes (the interval is an hour), and each test's requests come from an address of
/// its own (a header the API trusts here, as it would a load balancer's), so its summaries are its own.
/// </summary>
public sealed class FailedAuthenticationAuditFixture : AuditFixture
{
    public const string ClientAddressHeader = ClientAddressFromHeader.Header;

    public TestProxyHost Proxy { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Proxy = await TestProxyHost.StartAsync(builder => builder.AddVaultProxyCluster(), new Dictionary<string, string?>(Settings));
    }

    public override async Task DisposeAsync()
    {
        await Proxy.DisposeAsync();
        await base.DisposeAsync();
    }

    protected override void ConfigureSettings(Dictionary<string, string?> settings) =>
        settings["Audit:FailedAuthenticationSummaryInterval"] = "01:00:00";

    protected override void ConfigureApi(IServiceCollection services) => services.AddSingleton<IStartupFilter, ClientAddressFromHeader>();

    public Task FlushApiAsync() => ApiServices.GetRequiredService<FailedAuthenticationSummaryWriter>().FlushAsync();

    public Task FlushProxyAsync() => Proxy.Services.GetRequiredService<FailedAuthenticationSummaryWriter>().FlushAsync();

    /// <summary>A client of the API whose requests come from <paramref name="address"/>.</summary>
    public HttpClient ClientFrom(string address, string? bearer = null)
    {
        var client = CreateClient(bearer);
        client.DefaultRequestHeaders.Add(ClientAddressHeader, address);
        return client;
    }

}

/// <summary>
/// Issue 12: failed authentications are counted per client address and recorded in summary
/// (<c>auth.failed</c>): in the organization's trail when the credential names one, else in the system
/// trail that only the operator reads; never with the credential presented.
/// </summary>
public sealed class FailedAuthenticationAuditTests(FailedAuthenticationAuditFixture fixture) : IClassFixture<FailedAuthenticationAuditFixture>
{
    private const string SystemEvents = "/api/admin/v1/audit-events";

    private HttpClient Admin => fixture.CreateClient(ApiFixture.AdminToken);

    [Fact]
    public async Task Bad_api_keys_from_one_address_are_one_summary_in_the_system_trail_and_a_quiet_interval_adds_none()
    {
        var address = NewAddress();
        var client = fixture.ClientFrom(address);
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            statuses.Add((await client.GetAsync(Vaults)).StatusCode);
        }

        foreach (var malformed in new[] { "nr_short", "not-an-api-key" })
        {
            statuses.Add((await SendAsync(client, malformed)).StatusCode);
        }

        for (var i = 0; i < 4; i++)
        {
            statuses.Add((await SendAsync(client, Credentials.ApiKey.Generate())).StatusCode);
        }

        Assert.All(statuses, status => Assert.Equal(HttpStatusCode.Unauthorized, status));
        await fixture.FlushApiAsync();

        var summary = Assert.Single(await EventsAsync(SystemEvents, address));
        Assert.Equal(JsonValueKind.Null, summary.GetProperty("organization_id").ValueKind);
        Assert.Equal("""{"type":"address","id":"ADDRESS"}""".Replace("ADDRESS", address, StringComparison.Ordinal), summary.GetProperty("actor").GetRawText());
        Assert.Equal(("auth.failed", "denied", 401), (Text(summary, "action"), Text(summary, "outcome"), summary.GetProperty("status").GetInt32()));
        Assert.Equal("{}", summary.GetProperty("resource").GetRawText());
        var detail = summary.GetProperty("detail");
        Assert.Equal(["credential", "failures", "rate_limited", "first", "last", "reasons", "window_seconds"], Names(detail));
        Assert.Equal(("api_key", "9", "0", "missing:3,malformed:2,unknown:4"), (Text(detail, "credential"), Text(detail, "failures"), Text(detail, "rate_limited"), Text(detail, "reasons")));
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", Text(detail, "first"));
        Assert.True(string.CompareOrdinal(Text(detail, "first"), Text(detail, "last")) <= 0);
        Assert.True(int.Parse(Text(detail, "window_seconds"), System.Globalization.CultureInfo.InvariantCulture) >= 1);

        var before = (await EventsAsync(SystemEvents)).Count;
        await fixture.FlushApiAsync();
        Assert.Equal(before, (await EventsAsync(SystemEvents)).Count);
    }

    [Fact]
    public async Task Failures_past_the_limit_per_address_are_counted_as_rate_limited()
    {
        var address = NewAddress();
        var client = fixture.ClientFrom(address);
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 25; i++)
        {
            statuses.Add((await SendAsync(client, Credentials.ApiKey.Generate())).StatusCode);
        }

        // Over the limit, even a request without a key is answered 429 (and still counted).
        statuses.Add((await client.GetAsync(Vaults)).StatusCode);
        var tooMany = statuses.Count(s => s == HttpStatusCode.TooManyRequests);
        Assert.Equal(26, statuses.Count(s => s == HttpStatusCode.Unauthorized) + tooMany);
        Assert.InRange(tooMany, 2, 6);
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
        await fixture.FlushApiAsync();

        var detail = Assert.Single(await EventsAsync(SystemEvents, address)).GetProperty("detail");
        Assert.Equal(("26", tooMany.ToString(System.Globalization.CultureInfo.InvariantCulture)), (Text(detail, "failures"), Text(detail, "rate_limited")));
        Assert.Matches(@"^missing:1,unknown:\d+,not_looked_up:\d+$", Text(detail, "reasons"));
        var reasons = Reasons(detail);
        Assert.Equal(25, reasons["unknown"] + reasons["not_looked_up"]);
        Assert.InRange(reasons["not_looked_up"], 1, tooMany - 1);
    }

    [Fact]
    public async Task A_revoked_key_and_a_key_of_a_switched_off_organization_are_summarized_in_that_organizations_trail()
    {
        var address = NewAddress();
        var (organizationId, tenant, keyId) = await fixture.NewTenantAsync();
        var revoked = await ApiFixture.ReadAsync(await Admin.PostAsJsonAsync($"/api/admin/v1/organizations/{organizationId}/api-keys", new { name = "leaked" }));
        Assert.Equal(HttpStatusCode.NoContent, (await Admin.DeleteAsync($"/api/admin/v1/organizations/{organizationId}/api-keys/{Text(revoked, "id")}")).StatusCode);
        var revokedClient = fixture.ClientFrom(address, Text(revoked, "key"));
        for (var i = 0; i < 2; i++)
        {
            await AssertError(await revokedClient.GetAsync(Vaults), HttpStatusCode.Unauthorized, "invalid or missing API key");
        }

        await ApiFixture.ReadAsync(await PatchAsync(Admin, $"/api/admin/v1/organizations/{organizationId}", """{"disabled":true}"""));
        var disabledClient = fixture.ClientFrom(address, tenant.DefaultRequestHeaders.Authorization!.Parameter);
        for (var i = 0; i < 3; i++)
        {
            await AssertError(await disabledClient.GetAsync(Vaults), HttpStatusCode.Unauthorized, "invalid or missing API key");
        }

        await fixture.FlushApiAsync();

        var summaries = await EventsAsync($"/api/admin/v1/organizations/{organizationId}/audit-events", address);
        Assert.Equal(2, summaries.Count);
        Assert.All(summaries, e => Assert.Equal(organizationId, Text(e, "organization_id")));
        var byKey = summaries.ToDictionary(e => Text(e.GetProperty("resource"), "key_id"), e => e.GetProperty("detail"));
        Assert.Equal(("revoked:2", "2"), (Text(byKey[Text(revoked, "id")], "reasons"), Text(byKey[Text(revoked, "id")], "failures")));
        Assert.Equal(("organization_disabled:3", "3"), (Text(byKey[keyId], "reasons"), Text(byKey[keyId], "failures")));
        Assert.Empty(await EventsAsync(SystemEvents, address));
    }

    [Fact]
    public async Task Admin_token_failures_go_to_the_system_trail_as_credential_admin()
    {
        var address = NewAddress();
        var (_, tenant, _) = await fixture.NewTenantAsync();
        await AssertError(await fixture.ClientFrom(address).GetAsync(SystemEvents), HttpStatusCode.Unauthorized, "invalid or missing admin token");
        await AssertError(await fixture.ClientFrom(address, "wrong-admin-token-0123456789").GetAsync(SystemEvents), HttpStatusCode.Unauthorized, "invalid or missing admin token");
        await AssertError(await fixture.ClientFrom(address, tenant.DefaultRequestHeaders.Authorization!.Parameter).PostAsJsonAsync("/api/admin/v1/organizations", new { name = "x" }), HttpStatusCode.Unauthorized, "invalid or missing admin token");
        await fixture.FlushApiAsync();

        var summary = Assert.Single(await EventsAsync(SystemEvents, address));
        Assert.Equal(JsonValueKind.Null, summary.GetProperty("organization_id").ValueKind);
        Assert.Equal(401, summary.GetProperty("status").GetInt32());
        Assert.Equal("{}", summary.GetProperty("resource").GetRawText());
        var detail = summary.GetProperty("detail");
        Assert.Equal(("admin", "3", "missing:1,wrong_token:2"), (Text(detail, "credential"), Text(detail, "failures"), Text(detail, "reasons")));
    }

    [Fact]
    public async Task At_the_proxy_a_wrong_token_for_a_real_runtime_goes_to_its_organizations_trail_and_the_rest_to_the_system_trail()
    {
        var (organizationId, tenant, _) = await fixture.NewTenantAsync();
        var runtimeId = Text(await ApiFixture.ReadAsync(await tenant.PostAsJsonAsync("/api/public/v1/runtimes", new { name = "agent" })), "id");
        var systemBefore = await IdsAsync(SystemEvents);

        Assert.Equal(407, await ConnectStatusAsync(Basic(runtimeId, Credentials.RuntimeToken.Generate())));
        Assert.Equal(407, await ConnectStatusAsync(Basic(runtimeId, Credentials.RuntimeToken.Generate())));
        Assert.Equal(407, await ConnectStatusAsync(Basic(ResourceId.New(ResourceId.Runtime), Credentials.RuntimeToken.Generate())));
        Assert.Equal(407, await ConnectStatusAsync(null));
        Assert.Equal(407, await PlainStatusAsync("Basic !!!"));
        await fixture.FlushProxyAsync();

        var attributed = Assert.Single(await EventsAsync($"/api/admin/v1/organizations/{organizationId}/audit-events", "127.0.0.1"));
        Assert.Equal((407, "denied"), (attributed.GetProperty("status").GetInt32(), Text(attributed, "outcome")));
        Assert.Equal($$"""{"runtime_id":"{{runtimeId}}"}""", attributed.GetProperty("resource").GetRawText());
        Assert.Equal(("runtime_token", "2", "wrong_token:2"), (Text(attributed.GetProperty("detail"), "credential"), Text(attributed.GetProperty("detail"), "failures"), Text(attributed.GetProperty("detail"), "reasons")));

        var unattributed = Assert.Single(await EventsAsync(SystemEvents, "127.0.0.1"), e => !systemBefore.Contains(Text(e, "id")));
        Assert.Equal((407, "{}"), (unattributed.GetProperty("status").GetInt32(), unattributed.GetProperty("resource").GetRawText()));
        Assert.Equal(("runtime_token", "3", "missing:1,malformed:1,unknown:1"), (Text(unattributed.GetProperty("detail"), "credential"), Text(unattributed.GetProperty("detail"), "failures"), Text(unattributed.GetProperty("detail"), "reasons")));
    }

    [Fact]
    public async Task No_presented_key_or_token_nor_its_hash_appears_in_any_trail()
    {
        var address = NewAddress();
        var (organizationId, tenant, _) = await fixture.NewTenantAsync();
        var runtimeId = Text(await ApiFixture.ReadAsync(await tenant.PostAsJsonAsync("/api/public/v1/runtimes", new { name = "agent" })), "id");
        var revoked = await ApiFixture.ReadAsync(await Admin.PostAsJsonAsync($"/api/admin/v1/organizations/{organizationId}/api-keys", new { name = "revoked" }));
        Assert.Equal(HttpStatusCode.NoContent, (await Admin.DeleteAsync($"/api/admin/v1/organizations/{organizationId}/api-keys/{Text(revoked, "id")}")).StatusCode);
        var presented = new List<string>
        {
            Credentials.ApiKey.Generate(), Text(revoked, "key"), "nr_canary-malformed-key", "canary-admin-token-0123456789",
            Credentials.RuntimeToken.Generate(), "rt_canary-malformed-token",
        };

        await SendAsync(fixture.ClientFrom(address), presented[0]);
        await SendAsync(fixture.ClientFrom(address), presented[1]);
        await SendAsync(fixture.ClientFrom(address), presented[2]);
        await fixture.ClientFrom(address, presented[3]).GetAsync(SystemEvents);
        Assert.Equal(407, await ConnectStatusAsync(Basic(runtimeId, presented[4])));
        Assert.Equal(407, await ConnectStatusAsync(Basic(runtimeId, presented[5])));
        await fixture.FlushApiAsync();
        await fixture.FlushProxyAsync();

        var trails = await EventsAsync(SystemEvents, address);
        trails.AddRange(await EventsAsync($"/api/admin/v1/organizations/{organizationId}/audit-events"));
        Assert.Contains(trails, e => Text(e, "action") == "auth.failed" && Text(e, "organization_id") == organizationId && e.GetProperty("resource").TryGetProperty("runtime_id", out _));
        Assert.Contains(trails, e => Text(e, "action") == "auth.failed" && Text(e, "organization_id") == organizationId && e.GetProperty("resource").TryGetProperty("key_id", out _));
        var stored = string.Concat((await fixture.ReadSegmentsAsync(SystemAuditTrail.Key)).Concat(await fixture.ReadSegmentsAsync(organizationId)).Select(s => s.Text));
        var served = string.Concat(trails.Select(e => e.GetRawText()));
        foreach (var secret in presented)
        {
            foreach (var form in new[] { secret, CredentialFormat.Hash(secret), Convert.ToBase64String(Encoding.UTF8.GetBytes($"{runtimeId}:{secret}")) })
            {
                Assert.DoesNotContain(form, stored, StringComparison.Ordinal);
                Assert.DoesNotContain(form, served, StringComparison.Ordinal);
            }

            Assert.DoesNotContain(fixture.Logs.Lines, line => line.Contains(secret, StringComparison.Ordinal));
            Assert.DoesNotContain(fixture.Proxy.Logs.Lines, line => line.Contains(secret, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task The_operator_verifies_the_system_trail_and_no_tenant_can_read_it()
    {
        var address = NewAddress();
        await SendAsync(fixture.ClientFrom(address), Credentials.ApiKey.Generate());
        await fixture.FlushApiAsync();
        var all = await EventsAsync(SystemEvents);
        Assert.Contains(all, e => e.GetProperty("actor").GetProperty("id").GetString() == address);

        var verified = await ApiFixture.ReadAsync(await Admin.GetAsync($"{SystemEvents}/verify"));
        Assert.Equal((all.Count, JsonValueKind.Null), (verified.GetProperty("verified").GetInt32(), verified.GetProperty("first_broken").ValueKind));

        // A tenant's own trail never shows it; a tenant's key is no admin token; "system" is no organization id.
        var (_, tenant, _) = await fixture.NewTenantAsync();
        var own = (await ApiFixture.ReadAsync(await tenant.GetAsync("/api/public/v1/audit-events?limit=1000"))).GetProperty("events").EnumerateArray().ToList();
        Assert.DoesNotContain(own, e => e.GetProperty("organization_id").ValueKind == JsonValueKind.Null || Text(e, "action") == "auth.failed");
        await AssertError(await tenant.GetAsync(SystemEvents), HttpStatusCode.Unauthorized, "invalid or missing admin token");
        await AssertError(await tenant.GetAsync($"{SystemEvents}/verify"), HttpStatusCode.Unauthorized, "invalid or missing admin token");
        await AssertError(await Admin.GetAsync($"/api/admin/v1/organizations/{SystemAuditTrail.Key}/audit-events"), HttpStatusCode.BadRequest, "invalid org_id");

        // Edited in storage (same length, so later appends still line up): verification names the event.
        var (name, text) = (await fixture.ReadSegmentsAsync(SystemAuditTrail.Key)).Last();
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var edited = Array.FindIndex(lines, line => line.Contains($"\"id\":\"{address}\"", StringComparison.Ordinal));
        var victim = JsonDocument.Parse(lines[edited].Split('\t')[1]).RootElement;
        lines[edited] = lines[edited].Replace("\"failures\":\"1\"", "\"failures\":\"0\"", StringComparison.Ordinal);
        Assert.Contains("\"failures\":\"0\"", lines[edited], StringComparison.Ordinal);
        await fixture.OverwriteSegmentAsync(name, string.Join('\n', lines) + "\n");
        var broken = await ApiFixture.ReadAsync(await Admin.GetAsync($"{SystemEvents}/verify"));
        Assert.Equal(Text(victim, "id"), broken.GetProperty("first_broken").GetString());
    }

    [Fact]
    public async Task With_the_trail_down_summaries_are_kept_for_the_next_interval_and_requests_are_answered_as_ever()
    {
        var address = NewAddress();
        var client = fixture.ClientFrom(address);
        var keys = Enumerable.Range(0, 4).Select(_ => Credentials.ApiKey.Generate()).ToList();
        fixture.AuditStore.Down = true;
        try
        {
            await SendAsync(client, keys[0]);
            await SendAsync(client, keys[1]);
            var flush = fixture.FlushApiAsync();
            var watch = Stopwatch.StartNew();
            await AssertError(await SendAsync(client, keys[2]), HttpStatusCode.Unauthorized, "invalid or missing API key");
            await AssertError(await client.GetAsync(Vaults), HttpStatusCode.Unauthorized, "invalid or missing API key");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"refusals took {watch.Elapsed} while the trail was down");
            await flush;
            Assert.Contains(fixture.Logs.Lines, line => line.Contains("failed-authentication summaries for the audit trail system not written", StringComparison.Ordinal));

            await SendAsync(client, keys[3]);
            await fixture.FlushApiAsync();
        }
        finally
        {
            fixture.AuditStore.Down = false;
        }

        Assert.Empty(await EventsAsync(SystemEvents, address));
        await fixture.FlushApiAsync();
        var detail = Assert.Single(await EventsAsync(SystemEvents, address)).GetProperty("detail");
        Assert.Equal(("5", "missing:1,unknown:4"), (Text(detail, "failures"), Text(detail, "reasons")));
        var warnings = fixture.Logs.Lines.Where(line => line.Contains(nameof(FailedAuthenticationSummaryWriter), StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(warnings);
        Assert.All(keys, key => Assert.DoesNotContain(fixture.Logs.Lines, line => line.Contains(key, StringComparison.Ordinal)));
        Assert.All(keys, key => Assert.DoesNotContain(warnings, line => line.Contains(CredentialFormat.Hash(key), StringComparison.Ordinal) || line.Contains(address, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Summaries_are_written_every_interval_and_what_is_held_at_shutdown_is_written_then()
    {
        var ticking = NewAddress();
        await using (var instance = fixture.CreateApiInstance(services => services.Configure<FailedAuthenticationAuditOptions>(o => o.FailedAuthenticationSummaryInterval = TimeSpan.FromSeconds(1))))
        {
            var client = fixture.CreateClient(instance);
            client.DefaultRequestHeaders.Add(FailedAuthenticationAuditFixture.ClientAddressHeader, ticking);
            await SendAsync(client, Credentials.ApiKey.Generate());
            var watch = Stopwatch.StartNew();
            while ((await EventsAsync(SystemEvents, ticking)).Count == 0)
            {
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "no summary within 10 s at a one-second interval");
                await Task.Delay(200);
            }
        }

        var stopping = NewAddress();
        var held = fixture.CreateApiInstance();
        var stoppingClient = fixture.CreateClient(held);
        stoppingClient.DefaultRequestHeaders.Add(FailedAuthenticationAuditFixture.ClientAddressHeader, stopping);
        await SendAsync(stoppingClient, Credentials.ApiKey.Generate());
        await SendAsync(stoppingClient, Credentials.ApiKey.Generate());
        Assert.Empty(await EventsAsync(SystemEvents, stopping));
        await held.DisposeAsync();

        var detail = Assert.Single(await EventsAsync(SystemEvents, stopping)).GetProperty("detail");
        Assert.Equal(("2", "unknown:2"), (Text(detail, "failures"), Text(detail, "reasons")));
    }

    // 198.18.0.0/15 is for benchmarks: never a real client.
    private static string NewAddress() => $"198.18.{RandomNumberGenerator.GetInt32(256)}.{RandomNumberGenerator.GetInt32(1, 255)}";

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, string bearer)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, Vaults);
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + bearer);
        return client.SendAsync(request);
    }

    /// <summary>Every <c>auth.failed</c> event of a trail (newest first), only those of <paramref name="address"/> when given.</summary>
    private async Task<List<JsonElement>> EventsAsync(string url, string? address = null)
    {
        var page = await ApiFixture.ReadAsync(await Admin.GetAsync(url + "?action=auth.failed&limit=1000"));
        return page.GetProperty("events").EnumerateArray()
            .Where(e => address is null || e.GetProperty("actor").GetProperty("id").GetString() == address)
            .ToList();
    }

    private async Task<HashSet<string>> IdsAsync(string url) => (await EventsAsync(url)).Select(e => Text(e, "id")).ToHashSet(StringComparer.Ordinal);

    private static Dictionary<string, long> Reasons(JsonElement detail) =>
        Text(detail, "reasons").Split(',').Select(pair => pair.Split(':')).ToDictionary(pair => pair[0], pair => long.Parse(pair[1], System.Globalization.CultureInfo.InvariantCulture));

    private static string Basic(string runtimeId, string token) =>
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{runtimeId}:{token}"));

    private Task<int> ConnectStatusAsync(string? proxyAuthorization) =>
        ProxyStatusAsync("CONNECT api.example.test:443 HTTP/1.1\r\nHost: api.example.test:443\r\n", proxyAuthorization);

    // A plain http:// forward, which is never a release but still needs the runtime's credentials.
    private Task<int> PlainStatusAsync(string proxyAuthorization) =>
        ProxyStatusAsync("GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\n", proxyAuthorization);

    private async Task<int> ProxyStatusAsync(string head, string? proxyAuthorization)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, fixture.Proxy.Port);
        var stream = client.GetStream();
        var request = head + (proxyAuthorization is null ? "" : $"Proxy-Authorization: {proxyAuthorization}\r\n") + "\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        return (await RawHttp.ReadResponseAsync(stream)).Status;
    }
}
