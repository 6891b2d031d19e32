using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using VaultGrains.Proxy.Cluster;
using VaultGrains.Tests.Api;
using VaultGrains.Tests.Infrastructure;
using Xunit.Abstractions;

namespace VaultGrains.Tests.Proxy;

/// <summary>
/// The whole release path: the API and a silo on Azurite (<see cref="ApiFixture"/>), the proxy as
/// an Orleans client of that cluster, and a TLS upstream on loopback. Runtimes are made through the
/// public API, and agents are HttpClients that know only the environment endpoint's answer.
/// </summary>
public sealed class ReleasePathFixture : ApiFixture
{
    public TestUpstream Upstream { get; } = new();

    public TestProxyHost Proxy { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await Upstream.StartAsync();
        var settings = new Dictionary<string, string?>(Settings)
        {
            ["Proxy:AllowPrivate"] = "true",
            ["Proxy:Resolve"] = ProxyFixture.ResolveAll("127.0.0.1"),
            ["Proxy:UpstreamCaFile"] = Upstream.AuthorityPemFile,
            ["Proxy:AllowedPorts"] = $"{Upstream.HttpsPort}",
        };
        Proxy = await TestProxyHost.StartAsync(builder => builder.AddVaultProxyCluster(), settings);
    }

    public override async Task DisposeAsync()
    {
        await Proxy.DisposeAsync();
        await Upstream.DisposeAsync();
        await base.DisposeAsync();
    }
}

[CollectionDefinition(nameof(ReleasePathCollection))]
public sealed class ReleasePathCollection : ICollectionFixture<ReleasePathFixture>;

[Collection(nameof(ReleasePathCollection))]
public sealed class ReleasePathTests(ReleasePathFixture fixture, ITestOutputHelper output)
{
    private const string Runtimes = "/api/public/v1/runtimes";

    /// <summary>One agent: a tenant, a vault with <c>API_KEY</c> for api.example.test, a runtime holding it, and an HttpClient set up from the environment endpoint.</summary>
    private async Task<Agent> NewAgentAsync(string value)
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var secret = await ApiFixture.ReadAsync(await client.PostAsJsonAsync($"/api/public/v1/vaults/{vaultId}/secrets",
            new { env_key = "API_KEY", value, allowed_domains = new[] { "api.example.test" } }));
        var runtime = await ApiFixture.ReadAsync(await client.PostAsJsonAsync(Runtimes, new { name = "agent", vault_ids = new[] { vaultId } }));
        var agent = new Agent(fixture, client, vaultId, secret.GetProperty("id").GetString()!, runtime.GetProperty("id").GetString()!) { OrganizationId = organizationId };
        await agent.UseTokenAsync(runtime.GetProperty("token").GetString()!);
        return agent;
    }

    [Fact]
    public async Task An_agent_set_up_from_the_environment_gets_the_value_on_the_wire_only_for_the_allowed_host()
    {
        var agent = await NewAgentAsync("sk_live_release_path_canary_1");

        Assert.Equal("sk_live_release_path_canary_1", await agent.SentAsync("api.example.test"));
        Assert.Equal("CCASECRET_API_KEY", await agent.SentAsync("other.example.test"));

        // The value came back in the echo and was scrubbed; nothing the agent saw holds it.
        Assert.DoesNotContain(agent.Seen, body => body.Contains("sk_live_release_path_canary_1"));
        AssertNoValueLogged("sk_live_release_path_canary_1");
    }

    [Fact]
    public async Task Rotation_narrowing_and_delete_of_a_secret_take_effect_within_a_second()
    {
        var agent = await NewAgentAsync("first-value-abcdef");
        Assert.Equal("first-value-abcdef", await agent.SentAsync("api.example.test"));

        await ApiFixture.ReadAsync(await ApiTestKit.PatchAsync(agent.Client, agent.SecretUrl, """{"value":"second-value-abcdef"}"""));
        await agent.WithinASecondAsync("api.example.test", sent => sent == "second-value-abcdef");

        await ApiFixture.ReadAsync(await ApiTestKit.PatchAsync(agent.Client, agent.SecretUrl, """{"allowed_domains":["other.example.test"]}"""));
        await agent.WithinASecondAsync("api.example.test", sent => sent == "CCASECRET_API_KEY");
        Assert.Equal("second-value-abcdef", await agent.SentAsync("other.example.test"));

        Assert.Equal(HttpStatusCode.NoContent, (await agent.Client.DeleteAsync(agent.SecretUrl)).StatusCode);
        await agent.WithinASecondAsync("other.example.test", sent => sent == "CCASECRET_API_KEY");
        AssertNoValueLogged("first-value-abcdef", "second-value-abcdef");
    }

    [Fact]
    public async Task Detach_token_rotation_and_runtime_delete_take_effect_within_a_second()
    {
        var agent = await NewAgentAsync("detach-me-value-1234");
        Assert.Equal("detach-me-value-1234", await agent.SentAsync("api.example.test"));

        await ApiFixture.ReadAsync(await ApiTestKit.PatchAsync(agent.Client, agent.RuntimeUrl, """{"vault_ids":[]}"""));
        await agent.WithinASecondAsync("api.example.test", sent => sent == "CCASECRET_API_KEY");

        await ApiFixture.ReadAsync(await ApiTestKit.PatchAsync(agent.Client, agent.RuntimeUrl, $$"""{"vault_ids":["{{agent.VaultId}}"]}"""));
        await agent.WithinASecondAsync("api.example.test", sent => sent == "detach-me-value-1234");

        var oldToken = agent.Token;
        var rotated = await ApiFixture.ReadAsync(await agent.Client.PostAsync($"{agent.RuntimeUrl}/token", null));
        await agent.WithinASecondAsync("api.example.test", sent => sent is null);
        Assert.Equal(HttpStatusCode.ProxyAuthenticationRequired, await agent.StatusWithTokenAsync(oldToken));
        await agent.UseTokenAsync(rotated.GetProperty("token").GetString()!);
        Assert.Equal("detach-me-value-1234", await agent.SentAsync("api.example.test"));

        Assert.Equal(HttpStatusCode.NoContent, (await agent.Client.DeleteAsync(agent.RuntimeUrl)).StatusCode);
        await agent.WithinASecondAsync("api.example.test", sent => sent is null);
        Assert.Equal(HttpStatusCode.ProxyAuthenticationRequired, await agent.StatusWithTokenAsync(agent.Token));

        // Detached by the delete: the vault can go once its secret is gone.
        Assert.Equal(HttpStatusCode.NoContent, (await agent.Client.DeleteAsync(agent.SecretUrl)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await agent.Client.DeleteAsync($"/api/public/v1/vaults/{agent.VaultId}")).StatusCode);
    }

    [Fact]
    public async Task Twenty_rotations_each_reach_the_proxy_within_a_second_and_the_push_usually_beats_the_next_request()
    {
        var agent = await NewAgentAsync("rotation-0-value");
        Assert.Equal("rotation-0-value", await agent.SentAsync("api.example.test"));
        var immediate = 0;
        var slowest = TimeSpan.Zero;
        for (var i = 1; i <= 20; i++)
        {
            var value = $"rotation-{i}-value";
            await ApiFixture.ReadAsync(await ApiTestKit.PatchAsync(agent.Client, agent.SecretUrl, JsonSerializer.Serialize(new { value })));
            var watch = Stopwatch.StartNew();
            if (await agent.SentAsync("api.example.test") == value)
            {
                immediate++;
            }
            else
            {
                await agent.WithinASecondAsync("api.example.test", sent => sent == value);
            }

            slowest = watch.Elapsed > slowest ? watch.Elapsed : slowest;
        }

        // The figure the README quotes; the contract is the one-second bound asserted above.
        output.WriteLine($"rotations seen by the very next request: {immediate}/20; slowest until in effect: {slowest.TotalMilliseconds:F0} ms");
        Assert.True(immediate > 0, "the push never arrived before the next request");
    }

    [Fact]
    public async Task Releases_and_refusals_reach_the_organizations_audit_trail_within_a_second_and_never_with_the_value()
    {
        var agent = await NewAgentAsync("audited-release-value-31");
        Assert.Equal("audited-release-value-31", await agent.SentAsync("api.example.test"));
        Assert.Equal("CCASECRET_API_KEY", await agent.SentAsync("other.example.test"));

        var watch = Stopwatch.StartNew();
        List<JsonElement> releases;
        do
        {
            await Task.Delay(100);
            var page = await ApiFixture.ReadAsync(await agent.Client.GetAsync("/api/public/v1/audit-events?action=secret.release"));
            releases = page.GetProperty("events").EnumerateArray().ToList();
        }
        while (releases.Count < 2 && watch.Elapsed < TimeSpan.FromSeconds(3));

        Assert.Equal(["denied", "success"], releases.Select(e => e.GetProperty("outcome").GetString()));
        Assert.All(releases, e =>
        {
            Assert.Equal("runtime", e.GetProperty("actor").GetProperty("type").GetString());
            Assert.Equal(agent.RuntimeId, e.GetProperty("actor").GetProperty("id").GetString());
            Assert.Equal("API_KEY", e.GetProperty("resource").GetProperty("env_key").GetString());
            Assert.Equal("header", e.GetProperty("detail").GetProperty("location").GetString());
            Assert.DoesNotContain("audited-release-value-31", e.GetRawText(), StringComparison.Ordinal);
        });
        Assert.Equal("api.example.test", releases[1].GetProperty("detail").GetProperty("host").GetString());
        Assert.Equal("domain_not_allowed", releases[0].GetProperty("detail").GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Another_organizations_runtime_token_releases_nothing_of_this_one()
    {
        var mine = await NewAgentAsync("mine-only-value-987");
        var theirs = await NewAgentAsync("theirs-value-654");

        // Their credentials, my runtime id: refused, never forwarded with my values.
        Assert.Equal(HttpStatusCode.ProxyAuthenticationRequired, await mine.StatusWithTokenAsync(theirs.Token));
        Assert.Equal("theirs-value-654", await theirs.SentAsync("api.example.test"));
        Assert.Equal("mine-only-value-987", await mine.SentAsync("api.example.test"));
    }

    private void AssertNoValueLogged(params string[] values)
    {
        foreach (var value in values)
        {
            Assert.DoesNotContain(fixture.Logs.Lines, line => line.Contains(value, StringComparison.Ordinal));
            Assert.DoesNotContain(fixture.Proxy.Logs.Lines, line => line.Contains(value, StringComparison.Ordinal));
            Assert.DoesNotContain(fixture.Responses.Bodies, body => body.Contains(value, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_switched_off_organizations_runtime_token_gets_407_within_a_second_and_works_again_once_switched_on()
    {
        var agent = await NewAgentAsync("switch-off-value-4711");
        var admin = fixture.CreateClient(ApiFixture.AdminToken);
        var organizationUrl = $"/api/admin/v1/organizations/{agent.OrganizationId}";
        Assert.Equal("switch-off-value-4711", await agent.SentAsync("api.example.test"));

        var disabled = await ApiFixture.ReadAsync(await ApiTestKit.PatchAsync(admin, organizationUrl, """{"disabled":true}"""));
        Assert.True(disabled.GetProperty("disabled").GetBoolean());
        await agent.WithinASecondAsync("api.example.test", sent => sent is null);
        Assert.Equal(HttpStatusCode.ProxyAuthenticationRequired, await agent.StatusWithTokenAsync(agent.Token));

        // Also after the runtime's activation is gone: a new one reads the switch from the organization.
        await fixture.SiloServices.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Assert.Equal(HttpStatusCode.ProxyAuthenticationRequired, await agent.StatusWithTokenAsync(agent.Token));

        // Nothing was deleted: switched on, the same token releases the same value again.
        var enabled = await ApiFixture.ReadAsync(await ApiTestKit.PatchAsync(admin, organizationUrl, """{"disabled":false}"""));
        Assert.False(enabled.GetProperty("disabled").GetBoolean());
        await agent.WithinASecondAsync("api.example.test", sent => sent == "switch-off-value-4711");
    }

    private sealed class Agent(ReleasePathFixture fixture, HttpClient client, string vaultId, string secretId, string runtimeId)
    {
        private string caFile = "";

        public HttpClient Client => client;

        public string VaultId => vaultId;

        public string RuntimeId => runtimeId;

        public string Token { get; private set; } = "";

        public string OrganizationId { get; init; } = "";

        public string SecretUrl => $"/api/public/v1/vaults/{vaultId}/secrets/{secretId}";

        public string RuntimeUrl => $"{Runtimes}/{runtimeId}";

        public List<string> Seen { get; } = [];

        /// <summary>Takes the token and what the environment endpoint says: the proxy URL (replaced by the test proxy's) and the CA.</summary>
        public async Task UseTokenAsync(string token)
        {
            Token = token;
            var environment = await ApiFixture.ReadAsync(await client.GetAsync($"{RuntimeUrl}/environment"));
            Assert.Equal("CCASECRET_API_KEY", environment.GetProperty("variables").GetProperty("API_KEY").GetString());
            caFile = Path.Combine(Directory.CreateTempSubdirectory("agent-ca").FullName, "ca.pem");
            await File.WriteAllTextAsync(caFile, environment.GetProperty("ca_certificate").GetString());
        }

        /// <summary>What the upstream received for <c>X-Key: CCASECRET_API_KEY</c> sent to <paramref name="host"/>; null when the proxy refused the request.</summary>
        public async Task<string?> SentAsync(string host, string? token = null)
        {
            var marker = Guid.NewGuid().ToString("N");
            using var agent = CreateClient(token ?? Token);
            using var request = new HttpRequestMessage(HttpMethod.Get, $"https://{host}:{fixture.Upstream.HttpsPort}/{marker}");
            request.Headers.Add("X-Key", "CCASECRET_API_KEY");
            HttpResponseMessage response;
            try
            {
                response = await agent.SendAsync(request);
            }
            catch (HttpRequestException e) when (e.StatusCode == HttpStatusCode.ProxyAuthenticationRequired)
            {
                return null;
            }

            using var answered = response;
            Seen.Add(await response.Content.ReadAsStringAsync() + response.Headers);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return null;
            }

            return fixture.Upstream.RequestsWith(marker).Single().Header("X-Key");
        }

        public async Task<HttpStatusCode> StatusWithTokenAsync(string token)
        {
            using var agent = CreateClient(token);
            try
            {
                using var response = await agent.GetAsync($"https://api.example.test:{fixture.Upstream.HttpsPort}/status");
                return response.StatusCode;
            }
            catch (HttpRequestException e) when (e.StatusCode is { } status)
            {
                return status;
            }
        }

        /// <summary>Asks again every 50 ms until <paramref name="effect"/> holds; fails if it does not within one second.</summary>
        public async Task WithinASecondAsync(string host, Func<string?, bool> effect)
        {
            var watch = Stopwatch.StartNew();
            while (!effect(await SentAsync(host)))
            {
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"not in effect after {watch.ElapsedMilliseconds} ms");
                await Task.Delay(50);
            }
        }

        private HttpClient CreateClient(string token)
        {
            var authority = X509Certificate2.CreateFromPem(File.ReadAllText(caFile));
            var handler = new SocketsHttpHandler
            {
                Proxy = new WebProxy($"http://127.0.0.1:{fixture.Proxy.Port}") { Credentials = new NetworkCredential(runtimeId, token) },
                UseProxy = true,
            };
            handler.SslOptions.RemoteCertificateValidationCallback = TestCertificates.TrustOnly(authority);
            return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(15) };
        }
    }
}
