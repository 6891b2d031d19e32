using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using VaultGrains.Api;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Api;

/// <summary>The Administration table of API.md: organizations and API keys, for the operator.</summary>
[Collection(nameof(ApiCollection))]
public sealed partial class AdminEndpointTests(ApiFixture fixture)
{
    private const string Organizations = "/api/admin/v1/organizations";
    private const string UnknownOrganization = "org_01KQ27AQH800XQTQPJZ0DH14SJ";

    private HttpClient Admin => fixture.CreateClient(ApiFixture.AdminToken);

    [Fact]
    public async Task Organizations_are_created_and_read()
    {
        var response = await Admin.PostAsJsonAsync(Organizations, new { name = "Acme" });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(["id", "name", "created_at", "disabled", "limits"], Names(created));
        Assert.Matches(OrganizationId(), Text(created, "id"));
        Assert.Equal("Acme", Text(created, "name"));
        var fetched = await ApiFixture.ReadAsync(await Admin.GetAsync($"{Organizations}/{Text(created, "id")}"));
        Assert.Equal(created.GetRawText(), fetched.GetRawText());

        await AssertError(await Admin.GetAsync($"{Organizations}/{UnknownOrganization}"), HttpStatusCode.NotFound, "organization not found");
        await AssertError(await Admin.GetAsync($"{Organizations}/acme"), HttpStatusCode.BadRequest, "invalid org_id");
    }

    [Theory]
    [InlineData("{}", "name cannot be empty")]
    [InlineData("""{"name":""}""", "name cannot be empty")]
    [InlineData("""{"name":1}""", "name must be a string")]
    [InlineData("{oops", "request body is not valid JSON")]
    public async Task Names_are_required_for_organizations_and_keys(string body, string error)
    {
        var (organizationId, _, _) = await fixture.NewTenantAsync();

        await AssertError(await Admin.PostAsync(Organizations, Json(body)), HttpStatusCode.BadRequest, error);
        await AssertError(await Admin.PostAsync($"{Organizations}/{organizationId}/api-keys", Json(body)), HttpStatusCode.BadRequest, error);
        await AssertError(await Admin.PostAsJsonAsync(Organizations, new { name = new string('n', 201) }), HttpStatusCode.BadRequest, "name must be at most 200 characters");
    }

    [Fact]
    public async Task Keys_are_shown_once_then_listed_with_a_hint_only()
    {
        var (organizationId, _, firstKeyId) = await fixture.NewTenantAsync();
        var url = $"{Organizations}/{organizationId}/api-keys";

        var response = await Admin.PostAsJsonAsync(url, new { name = "ci" });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(["id", "name", "key", "created_at"], Names(created));
        Assert.Matches(KeyId(), Text(created, "id"));
        var key = Text(created, "key");
        Assert.Matches(PublicKey(), key);

        var listedText = await (await Admin.GetAsync(url)).Content.ReadAsStringAsync();
        var listed = JsonDocument.Parse(listedText).RootElement;
        Assert.Equal([firstKeyId, Text(created, "id")], listed.EnumerateArray().Select(k => Text(k, "id")));
        Assert.All(listed.EnumerateArray(), k => Assert.Equal(["id", "name", "hint", "created_at"], Names(k)));
        Assert.Equal(key[^4..], Text(listed[1], "hint"));
        Assert.Equal((Text(created, "name"), Text(created, "created_at")), (Text(listed[1], "name"), Text(listed[1], "created_at")));
        Assert.DoesNotContain(key, listedText);

        // The new key works on the public API at once.
        Assert.Equal(HttpStatusCode.OK, (await fixture.CreateClient(key).GetAsync(Vaults)).StatusCode);
    }

    [Fact]
    public async Task Key_routes_refuse_malformed_and_unknown_ids()
    {
        var (organizationId, _, keyId) = await fixture.NewTenantAsync();
        var (otherOrganization, otherClient, otherKeyId) = await fixture.NewTenantAsync("Other");

        await AssertError(await Admin.PostAsJsonAsync($"{Organizations}/{UnknownOrganization}/api-keys", new { name = "x" }), HttpStatusCode.NotFound, "organization not found");
        await AssertError(await Admin.PostAsJsonAsync($"{Organizations}/org_1/api-keys", new { name = "x" }), HttpStatusCode.BadRequest, "invalid org_id");
        await AssertError(await Admin.GetAsync($"{Organizations}/{UnknownOrganization}/api-keys"), HttpStatusCode.NotFound, "organization not found");
        await AssertError(await Admin.GetAsync($"{Organizations}/org_1/api-keys"), HttpStatusCode.BadRequest, "invalid org_id");
        await AssertError(await Admin.DeleteAsync($"{Organizations}/{UnknownOrganization}/api-keys/{keyId}"), HttpStatusCode.NotFound, "organization not found");
        await AssertError(await Admin.DeleteAsync($"{Organizations}/org_1/api-keys/{keyId}"), HttpStatusCode.BadRequest, "invalid org_id");
        await AssertError(await Admin.DeleteAsync($"{Organizations}/{organizationId}/api-keys/key_1"), HttpStatusCode.BadRequest, "invalid key_id");
        await AssertError(await Admin.DeleteAsync($"{Organizations}/{organizationId}/api-keys/key_01KQ27AQH800XQTQPJZ0DH14SJ"), HttpStatusCode.NotFound, "api key not found");

        // Another organization's key is not found through this organization, and keeps working.
        await AssertError(await Admin.DeleteAsync($"{Organizations}/{organizationId}/api-keys/{otherKeyId}"), HttpStatusCode.NotFound, "api key not found");
        Assert.Equal(HttpStatusCode.OK, (await otherClient.GetAsync(Vaults)).StatusCode);
        Assert.Single((await ApiFixture.ReadAsync(await Admin.GetAsync($"{Organizations}/{otherOrganization}/api-keys"))).EnumerateArray());
    }

    [Fact]
    public async Task Admin_routes_refuse_missing_wrong_and_public_credentials()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var publicKey = client.DefaultRequestHeaders.Authorization!.Parameter!;

        foreach (var caller in new[] { fixture.CreateClient(), fixture.CreateClient("wrong-admin-token-0123456789"), fixture.CreateClient(publicKey) })
        {
            await AssertError(await caller.PostAsJsonAsync(Organizations, new { name = "x" }), HttpStatusCode.Unauthorized, "invalid or missing admin token");
            await AssertError(await caller.GetAsync($"{Organizations}/{organizationId}"), HttpStatusCode.Unauthorized, "invalid or missing admin token");
            await AssertError(await caller.GetAsync($"{Organizations}/{organizationId}/api-keys"), HttpStatusCode.Unauthorized, "invalid or missing admin token");
            await AssertError(await caller.PostAsJsonAsync($"{Organizations}/{organizationId}/api-keys", new { name = "x" }), HttpStatusCode.Unauthorized, "invalid or missing admin token");
            await AssertError(await caller.DeleteAsync($"{Organizations}/{organizationId}/api-keys/key_01KQ27AQH800XQTQPJZ0DH14SJ"), HttpStatusCode.Unauthorized, "invalid or missing admin token");
        }
    }

    [Fact]
    public async Task Without_an_admin_token_the_admin_api_answers_404_to_everything()
    {
        await using var instance = fixture.CreateApiInstance(services => services.PostConfigure<AdminOptions>(options => options.Token = null));
        var caller = fixture.CreateClient(instance, ApiFixture.AdminToken);

        await AssertError(await caller.PostAsJsonAsync(Organizations, new { name = "x" }), HttpStatusCode.NotFound, "not found");
        await AssertError(await caller.GetAsync($"{Organizations}/{UnknownOrganization}"), HttpStatusCode.NotFound, "not found");
        await AssertError(await caller.GetAsync($"{Organizations}/{UnknownOrganization}/api-keys"), HttpStatusCode.NotFound, "not found");
        await AssertError(await caller.DeleteAsync($"{Organizations}/{UnknownOrganization}/api-keys/key_01KQ27AQH800XQTQPJZ0DH14SJ"), HttpStatusCode.NotFound, "not found");
    }

    /// <summary>
    /// Two API instances on one cluster. The second has the key in its one-second cache when the
    /// first revokes it; its cache clock is driven by hand so the test is exact, not timing-bound.
    /// </summary>
    [Fact]
    public async Task A_revoked_key_is_refused_by_every_instance_within_a_second_even_one_that_cached_it()
    {
        var (organizationId, first, keyId) = await fixture.NewTenantAsync();
        var key = first.DefaultRequestHeaders.Authorization!.Parameter!;
        var clock = new ManualClock();
        await using var instance = fixture.CreateApiInstance(services => services.AddSingleton(provider =>
            ActivatorUtilities.CreateInstance<ApiKeyAuthentication>(provider, clock)));
        var second = fixture.CreateClient(instance, key);
        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync(Vaults)).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await Admin.DeleteAsync($"{Organizations}/{organizationId}/api-keys/{keyId}")).StatusCode);

        // Still inside the second instance's cache lifetime: served from the cache, as designed.
        clock.Advance(ApiKeyAuthentication.CacheLifetime - TimeSpan.FromMilliseconds(1));
        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync(Vaults)).StatusCode);

        clock.Advance(TimeSpan.FromMilliseconds(1));
        await AssertError(await second.GetAsync(Vaults), HttpStatusCode.Unauthorized, "invalid or missing API key");
        Assert.Empty((await ApiFixture.ReadAsync(await Admin.GetAsync($"{Organizations}/{organizationId}/api-keys"))).EnumerateArray());
        await AssertError(await Admin.DeleteAsync($"{Organizations}/{organizationId}/api-keys/{keyId}"), HttpStatusCode.NotFound, "api key not found");

        // And on the first instance with the real clock, a second after the revocation.
        await Task.Delay(ApiKeyAuthentication.CacheLifetime + TimeSpan.FromMilliseconds(50));
        await AssertError(await first.GetAsync(Vaults), HttpStatusCode.Unauthorized, "invalid or missing API key");
    }

    private sealed class ManualClock : TimeProvider
    {
        private long ticks = 1;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref ticks, by.Ticks);
    }

    [GeneratedRegex("^org_[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    private static partial Regex OrganizationId();

    [GeneratedRegex("^key_[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    private static partial Regex KeyId();

    [GeneratedRegex("^nr_[A-Za-z0-9_-]{43}$")]
    private static partial Regex PublicKey();
}
