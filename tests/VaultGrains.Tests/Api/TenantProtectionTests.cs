using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using VaultGrains.Api;
using VaultGrains.Tests.Infrastructure;
using Xunit.Abstractions;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Api;

/// <summary>
/// Issue 11, tenants protected: switching an organization off and on, its vault and runtime quotas,
/// the failed-authentication limit per client address and the per-key request rate.
/// </summary>
[Collection(nameof(ApiCollection))]
public sealed class TenantProtectionTests(ApiFixture fixture, ITestOutputHelper output)
{
    private const string Organizations = "/api/admin/v1/organizations";
    private const string Runtimes = "/api/public/v1/runtimes";
    private const string ClientAddressHeader = ClientAddressFromHeader.Header;

    private HttpClient Admin => fixture.CreateClient(ApiFixture.AdminToken);

    [Fact]
    public async Task An_organization_shows_its_switch_and_default_limits_wherever_it_is_returned()
    {
        var created = await ApiFixture.ReadAsync(await Admin.PostAsJsonAsync(Organizations, new { name = "Shown" }));
        var id = Text(created, "id");
        var read = await ApiFixture.ReadAsync(await Admin.GetAsync($"{Organizations}/{id}"));
        var patched = await ApiFixture.ReadAsync(await PatchAsync(Admin, $"{Organizations}/{id}", "{}"));
        foreach (var organization in new[] { created, read, patched })
        {
            Assert.Equal(["id", "name", "created_at", "disabled", "limits"], Names(organization));
            Assert.False(organization.GetProperty("disabled").GetBoolean());
            Assert.Equal("""{"vaults":10000,"runtimes":1000}""", organization.GetProperty("limits").GetRawText());
        }

        var limited = await ApiFixture.ReadAsync(await PatchAsync(Admin, $"{Organizations}/{id}", """{"limits":{"runtimes":3}}"""));
        Assert.Equal("""{"vaults":10000,"runtimes":3}""", limited.GetProperty("limits").GetRawText());
        Assert.Equal(limited.GetRawText(), (await ApiFixture.ReadAsync(await Admin.GetAsync($"{Organizations}/{id}"))).GetRawText());
    }

    [Theory]
    [InlineData("""{"disabled":"yes"}""", "disabled must be a boolean")]
    [InlineData("""{"disabled":null}""", "disabled must be a boolean")]
    [InlineData("""{"disabled":1}""", "disabled must be a boolean")]
    [InlineData("""{"limits":5}""", "limits must be an object")]
    [InlineData("""{"limits":null}""", "limits must be an object")]
    [InlineData("""{"limits":{"vaults":-1}}""", "limits.vaults must be an integer between 0 and 1000000")]
    [InlineData("""{"limits":{"vaults":1.5}}""", "limits.vaults must be an integer between 0 and 1000000")]
    [InlineData("""{"limits":{"vaults":"10"}}""", "limits.vaults must be an integer between 0 and 1000000")]
    [InlineData("""{"limits":{"runtimes":1000001}}""", "limits.runtimes must be an integer between 0 and 1000000")]
    [InlineData("""{"limits":{"runtimes":99999999999999999999}}""", "limits.runtimes must be an integer between 0 and 1000000")]
    [InlineData("""[]""", "request body must be a JSON object")]
    [InlineData("""{"disabled":true""", "request body is not valid JSON")]
    public async Task A_bad_organization_patch_is_refused_with_a_message_and_changes_nothing(string body, string message)
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        await AssertError(await PatchAsync(Admin, $"{Organizations}/{organizationId}", body), HttpStatusCode.BadRequest, message);
        var organization = await ApiFixture.ReadAsync(await Admin.GetAsync($"{Organizations}/{organizationId}"));
        Assert.False(organization.GetProperty("disabled").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(Vaults)).StatusCode);
    }

    [Fact]
    public async Task A_patch_names_a_bad_or_unknown_organization()
    {
        await AssertError(await PatchAsync(Admin, $"{Organizations}/nope", """{"disabled":true}"""), HttpStatusCode.BadRequest, "invalid org_id");
        await AssertError(await PatchAsync(Admin, $"{Organizations}/org_01KQ27AQH800XQTQPJZ0DH14SJ", """{"disabled":true}"""), HttpStatusCode.NotFound, "organization not found");
        await AssertError(await PatchAsync(fixture.CreateClient(), $"{Organizations}/org_01KQ27AQH800XQTQPJZ0DH14SJ", """{"disabled":true}"""), HttpStatusCode.Unauthorized, "invalid or missing admin token");
    }

    [Fact]
    public async Task A_switched_off_organizations_key_gets_401_within_a_second_nothing_is_deleted_and_switching_on_restores_it()
    {
        var (organizationId, client, keyId) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        await CreateSecretAsync(client, vaultId, "KEPT");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(Vaults)).StatusCode);

        var disabled = await ApiFixture.ReadAsync(await PatchAsync(Admin, $"{Organizations}/{organizationId}", """{"disabled":true}"""));
        Assert.True(disabled.GetProperty("disabled").GetBoolean());
        var refusedAfter = await UntilAsync(client, HttpStatusCode.Unauthorized);
        output.WriteLine($"switched off: key refused after {refusedAfter.TotalMilliseconds:F0} ms");
        Assert.True(refusedAfter < TimeSpan.FromSeconds(1), $"refused only after {refusedAfter.TotalMilliseconds} ms");
        await AssertError(await client.GetAsync(Vaults), HttpStatusCode.Unauthorized, "invalid or missing API key");

        // The operator still sees everything; nothing was deleted.
        Assert.Equal(keyId, Text((await ApiFixture.ReadAsync(await Admin.GetAsync($"{Organizations}/{organizationId}/api-keys")))[0], "id"));
        Assert.True((await ApiFixture.ReadAsync(await Admin.GetAsync($"{Organizations}/{organizationId}"))).GetProperty("disabled").GetBoolean());

        await ApiFixture.ReadAsync(await PatchAsync(Admin, $"{Organizations}/{organizationId}", """{"disabled":false}"""));
        var servedAfter = await UntilAsync(client, HttpStatusCode.OK);
        Assert.True(servedAfter < TimeSpan.FromSeconds(1), $"served again only after {servedAfter.TotalMilliseconds} ms");
        var vaults = await ApiFixture.ReadAsync(await client.GetAsync(Vaults));
        Assert.Equal(1, vaults[0].GetProperty("secret_count").GetInt32());
    }

    [Fact]
    public async Task The_vault_limit_is_exact_at_the_edge_and_under_concurrency_and_lowering_it_deletes_nothing()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        await ApiFixture.ReadAsync(await PatchAsync(Admin, $"{Organizations}/{organizationId}", """{"limits":{"vaults":3}}"""));
        await ApiFixture.CreateVaultAsync(client, "one");
        await ApiFixture.CreateVaultAsync(client, "two");

        // One slot left, twelve creates at once: exactly one wins.
        var racing = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => client.PostAsJsonAsync(Vaults, new { name = $"racer {i}" })));
        Assert.Single(racing, r => r.StatusCode == HttpStatusCode.Created);
        foreach (var refused in racing.Where(r => r.StatusCode != HttpStatusCode.Created))
        {
            await AssertError(refused, HttpStatusCode.BadRequest, "organization vault limit reached");
        }

        await AssertError(await client.PostAsJsonAsync(Vaults, new { name = "four" }), HttpStatusCode.BadRequest, "organization vault limit reached");
        var listed = await ApiFixture.ReadAsync(await client.GetAsync(Vaults));
        Assert.Equal(3, listed.GetArrayLength());

        // Lowered below the count: nothing goes, nothing new comes until enough are deleted.
        await ApiFixture.ReadAsync(await PatchAsync(Admin, $"{Organizations}/{organizationId}", """{"limits":{"vaults":1}}"""));
        Assert.Equal(3, (await ApiFixture.ReadAsync(await client.GetAsync(Vaults))).GetArrayLength());
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"{Vaults}/{Text(listed[0], "id")}")).StatusCode);
        await AssertError(await client.PostAsJsonAsync(Vaults, new { name = "still over" }), HttpStatusCode.BadRequest, "organization vault limit reached");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"{Vaults}/{Text(listed[1], "id")}")).StatusCode);
        await AssertError(await client.PostAsJsonAsync(Vaults, new { name = "at the limit" }), HttpStatusCode.BadRequest, "organization vault limit reached");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"{Vaults}/{Text(listed[2], "id")}")).StatusCode);
        await ApiFixture.CreateVaultAsync(client, "fits again");

        // A limit of 0 stops new vaults altogether.
        await ApiFixture.ReadAsync(await PatchAsync(Admin, $"{Organizations}/{organizationId}", """{"limits":{"vaults":0}}"""));
        await AssertError(await client.PostAsJsonAsync(Vaults, new { name = "none" }), HttpStatusCode.BadRequest, "organization vault limit reached");
    }

    [Fact]
    public async Task The_runtime_limit_is_exact_at_the_edge_and_under_concurrency()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        await ApiFixture.ReadAsync(await PatchAsync(Admin, $"{Organizations}/{organizationId}", """{"limits":{"runtimes":2}}"""));
        await ApiFixture.ReadAsync(await client.PostAsJsonAsync(Runtimes, new { name = "first", vault_ids = new[] { vaultId } }));

        var racing = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => client.PostAsJsonAsync(Runtimes, new { name = $"racer {i}", vault_ids = new[] { vaultId } })));
        Assert.Single(racing, r => r.StatusCode == HttpStatusCode.Created);
        foreach (var refused in racing.Where(r => r.StatusCode != HttpStatusCode.Created))
        {
            await AssertError(refused, HttpStatusCode.BadRequest, "organization runtime limit reached");
        }

        var runtimes = await ApiFixture.ReadAsync(await client.GetAsync(Runtimes));
        Assert.Equal(2, runtimes.GetArrayLength());

        // The losers attached nothing: the vault is held by exactly the two runtimes listed.
        await AssertError(await client.DeleteAsync($"{Vaults}/{vaultId}"), HttpStatusCode.BadRequest, "cannot delete vault: still assigned to 2 agent(s)");

        await ApiFixture.ReadAsync(await PatchAsync(Admin, $"{Organizations}/{organizationId}", """{"limits":{"runtimes":1}}"""));
        Assert.Equal(2, (await ApiFixture.ReadAsync(await client.GetAsync(Runtimes))).GetArrayLength());
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"{Runtimes}/{Text(runtimes[0], "id")}")).StatusCode);
        await AssertError(await client.PostAsJsonAsync(Runtimes, new { name = "at the limit", vault_ids = Array.Empty<string>() }), HttpStatusCode.BadRequest, "organization runtime limit reached");
    }

    /// <summary>
    /// On its own API instance (its own limiter), with the client address set per request. Random
    /// well-formed keys: at most the limit's worth are looked up, the rest get 429 with Retry-After,
    /// the silo's API key activations stay flat, and valid keys from the same address still work.
    /// </summary>
    [Fact]
    public async Task Ten_thousand_random_keys_end_in_429s_without_activations_and_a_valid_key_from_that_address_still_works()
    {
        await using var instance = fixture.CreateApiInstance(services => services.AddSingleton<IStartupFilter>(new ClientAddressFromHeader()));
        var (_, tenant, _) = await fixture.NewTenantAsync();
        var validKey = tenant.DefaultRequestHeaders.Authorization!.Parameter!;
        var attacker = fixture.CreateClient(instance);
        attacker.DefaultRequestHeaders.Add(ClientAddressHeader, "203.0.113.7");
        var valid = fixture.CreateClient(instance, validKey);
        valid.DefaultRequestHeaders.Add(ClientAddressHeader, "203.0.113.7");
        Assert.Equal(HttpStatusCode.OK, (await valid.GetAsync(Vaults)).StatusCode);

        var management = fixture.SiloServices.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);
        var before = await ApiKeyActivationsAsync(management);
        var statuses = new System.Collections.Concurrent.ConcurrentBag<HttpStatusCode>();
        var retryAfter = new System.Collections.Concurrent.ConcurrentBag<string>();
        var watch = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, 10_000), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, cancellation) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, Vaults);
            request.Headers.Authorization = new("Bearer", "nr_" + Base64Url(RandomNumberGenerator.GetBytes(32)));
            using var response = await attacker.SendAsync(request, cancellation);
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                retryAfter.Add(response.Headers.RetryAfter?.ToString() ?? "");
            }
        });
        var peak = await ApiKeyActivationsAsync(management);

        var unauthorized = statuses.Count(s => s == HttpStatusCode.Unauthorized);
        var tooMany = statuses.Count(s => s == HttpStatusCode.TooManyRequests);
        Assert.Equal(10_000, unauthorized + tooMany);
        output.WriteLine($"10,000 random keys in {watch.Elapsed.TotalSeconds:F1} s: {unauthorized} x 401 (looked up), {tooMany} x 429; API key activations {before} -> {peak} at the end of the flood");
        var windows = (int)(watch.Elapsed.TotalSeconds / 10) + 1;
        Assert.True(unauthorized <= 20 * windows, $"{unauthorized} lookups in {watch.Elapsed}");
        Assert.All(retryAfter, value => Assert.True(int.TryParse(value, out var seconds) && seconds is >= 1 and <= 10, $"Retry-After: {value}"));
        await AssertError(await attacker.GetAsync(Vaults), HttpStatusCode.TooManyRequests, "too many requests");

        // Flat: what the few lookups activated is gone again (an unknown key's grain deactivates at once).
        Assert.True(peak - before <= 20 * windows, $"API key activations {before} -> {peak}");
        var settled = Stopwatch.StartNew();
        while (await ApiKeyActivationsAsync(management) > before + 1 && settled.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(100);
        }

        Assert.True(await ApiKeyActivationsAsync(management) <= before + 1, $"API key activations stayed at {await ApiKeyActivationsAsync(management)} (before: {before})");

        // Not affected: a valid key from the same address, and an invalid key from another address.
        Assert.Equal(HttpStatusCode.OK, (await valid.GetAsync(Vaults)).StatusCode);
        var bystander = fixture.CreateClient(instance, "nr_" + Base64Url(RandomNumberGenerator.GetBytes(32)));
        bystander.DefaultRequestHeaders.Add(ClientAddressHeader, "198.51.100.9");
        await AssertError(await bystander.GetAsync(Vaults), HttpStatusCode.Unauthorized, "invalid or missing API key");
    }

    [Fact]
    public async Task A_key_over_its_request_rate_gets_429_with_Retry_After_and_other_keys_do_not()
    {
        await using var instance = fixture.CreateApiInstance(services => services.Configure<LimitsOptions>(options => options.RequestsPerSecondPerKey = 5));
        var (_, first, _) = await fixture.NewTenantAsync();
        var (_, second, _) = await fixture.NewTenantAsync();
        var busy = fixture.CreateClient(instance, first.DefaultRequestHeaders.Authorization!.Parameter!);
        var calm = fixture.CreateClient(instance, second.DefaultRequestHeaders.Authorization!.Parameter!);
        Assert.Equal(HttpStatusCode.OK, (await busy.GetAsync(Vaults)).StatusCode);

        var responses = new List<HttpResponseMessage>();
        for (var i = 0; i < 20; i++)
        {
            responses.Add(await busy.GetAsync(Vaults));
        }

        var limited = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(limited);
        Assert.All(responses, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.TooManyRequests }));
        await AssertError(limited[0], HttpStatusCode.TooManyRequests, "too many requests");
        Assert.Equal("1", limited[0].Headers.RetryAfter?.ToString());
        Assert.Equal(HttpStatusCode.OK, (await calm.GetAsync(Vaults)).StatusCode);

        await Task.Delay(TimeSpan.FromSeconds(1.1));
        Assert.Equal(HttpStatusCode.OK, (await busy.GetAsync(Vaults)).StatusCode);
    }

    [Theory]
    [InlineData("RequestsPerSecondPerKey", "0", "Limits:RequestsPerSecondPerKey")]
    [InlineData("FailedAuthenticationsPerAddress", "0", "Limits:FailedAuthenticationsPerAddress")]
    [InlineData("FailedAuthenticationWindow", "00:00:00.5", "Limits:FailedAuthenticationWindow")]
    public void A_bad_limit_is_refused_naming_its_key(string name, string value, string key)
    {
        var options = new LimitsOptions();
        typeof(LimitsOptions).GetProperty(name)!.SetValue(options, name == "FailedAuthenticationWindow" ? TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : int.Parse(value, System.Globalization.CultureInfo.InvariantCulture));
        var result = new LimitsOptionsValidator().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains(key, result.FailureMessage, StringComparison.Ordinal);
        Assert.True(new LimitsOptionsValidator().Validate(null, new LimitsOptions()).Succeeded);
    }

    private static async Task<TimeSpan> UntilAsync(HttpClient client, HttpStatusCode status)
    {
        var watch = Stopwatch.StartNew();
        while ((await client.GetAsync(Vaults)).StatusCode != status)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"still not {status} after {watch.Elapsed}");
            await Task.Delay(20);
        }

        return watch.Elapsed;
    }

    private static async Task<int> ApiKeyActivationsAsync(IManagementGrain management) =>
        (await management.GetSimpleGrainStatistics()).Where(s => s.GrainType.Contains("ApiKeyGrain", StringComparison.Ordinal)).Sum(s => s.ActivationCount);

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

}
