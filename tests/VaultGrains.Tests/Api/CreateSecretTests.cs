using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Api;

[CollectionDefinition(nameof(ApiCollection))]
public sealed class ApiCollection : ICollectionFixture<ApiFixture>;

/// <summary>POST /api/public/v1/vaults/{vault_id}/secrets, as create-secret.seed.md documents it.</summary>
[Collection(nameof(ApiCollection))]
public sealed partial class CreateSecretTests(ApiFixture fixture)
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task AssertError(HttpResponseMessage response, HttpStatusCode status, string body)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(body, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Created_secret_has_exactly_the_seed_fields()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);

        var response = await client.PostAsync($"/api/public/v1/vaults/{vaultId}/secrets",
            Json("""{"env_key":"DATABASE_URL","value":"postgresql://...","allowed_domains":["*.example.com"]}"""));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(["id", "env_key", "allowed_domains", "created_at", "updated_at"], body.EnumerateObject().Select(p => p.Name));
        Assert.Matches(SecretId(), body.GetProperty("id").GetString());
        Assert.Equal("DATABASE_URL", body.GetProperty("env_key").GetString());
        Assert.Equal(["*.example.com"], body.GetProperty("allowed_domains").EnumerateArray().Select(e => e.GetString()));
        Assert.Matches(Timestamp(), body.GetProperty("created_at").GetString());
        Assert.Equal(body.GetProperty("created_at").GetString(), body.GetProperty("updated_at").GetString());
        var created = DateTime.Parse(body.GetProperty("created_at").GetString()!, null, System.Globalization.DateTimeStyles.RoundtripKind);
        Assert.InRange(created, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddMinutes(1));
    }

    [Fact]
    public async Task Allowed_domains_default_to_an_empty_list()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);

        var body = await ApiFixture.ReadAsync(await client.PostAsync($"/api/public/v1/vaults/{vaultId}/secrets", Json("""{"env_key":"A","value":"v"}""")));

        Assert.Equal(JsonValueKind.Array, body.GetProperty("allowed_domains").ValueKind);
        Assert.Equal(0, body.GetProperty("allowed_domains").GetArrayLength());
    }

    [Fact]
    public async Task Seed_errors_have_the_seed_bodies_to_the_byte()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var url = $"/api/public/v1/vaults/{vaultId}/secrets";
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsync(url, Json("""{"env_key":"DATABASE_URL","value":"x"}"""))).StatusCode);

        await AssertError(await client.PostAsync(url, Json("""{"env_key":"DATABASE_URL","value":"y"}""")), HttpStatusCode.BadRequest, """{"error":"env_key already exists in this vault"}""");
        await AssertError(await client.PostAsync(url, Json("""{"env_key":"OTHER","value":""}""")), HttpStatusCode.BadRequest, """{"error":"value cannot be empty"}""");
        await AssertError(await client.PostAsync(url, Json("""{"env_key":"OTHER"}""")), HttpStatusCode.BadRequest, """{"error":"value cannot be empty"}""");
        await AssertError(await client.PostAsync(url, Json("""{"env_key":"OTHER","value":null}""")), HttpStatusCode.BadRequest, """{"error":"value cannot be empty"}""");
        await AssertError(await client.PostAsync("/api/public/v1/vaults/vlt_01KQ27AQH800XQTQPJZ0DH14SJ/secrets", Json("""{"env_key":"A","value":"v"}""")), HttpStatusCode.NotFound, """{"error":"vault not found"}""");
    }

    [Fact]
    public async Task Env_keys_are_case_sensitive()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var url = $"/api/public/v1/vaults/{vaultId}/secrets";

        Assert.Equal(HttpStatusCode.Created, (await client.PostAsync(url, Json("""{"env_key":"token","value":"x"}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsync(url, Json("""{"env_key":"TOKEN","value":"x"}"""))).StatusCode);
    }

    [Fact]
    public async Task Vault_not_found_comes_before_any_body_error()
    {
        var (_, client, _) = await fixture.NewTenantAsync();

        await AssertError(await client.PostAsync("/api/public/v1/vaults/vlt_01KQ27AQH800XQTQPJZ0DH14SJ/secrets", Json("""{"env_key":"A","value":""}""")), HttpStatusCode.NotFound, """{"error":"vault not found"}""");
        await AssertError(await client.PostAsync("/api/public/v1/vaults/vlt_01KQ27AQH800XQTQPJZ0DH14SJ/secrets", Json("{oops")), HttpStatusCode.NotFound, """{"error":"vault not found"}""");
    }

    [Fact]
    public async Task Another_organizations_vault_is_not_found()
    {
        var (_, owner, _) = await fixture.NewTenantAsync("Owner");
        var (_, stranger, _) = await fixture.NewTenantAsync("Stranger");
        var vaultId = await ApiFixture.CreateVaultAsync(owner);

        await AssertError(await stranger.PostAsync($"/api/public/v1/vaults/{vaultId}/secrets", Json("""{"env_key":"A","value":"v"}""")), HttpStatusCode.NotFound, """{"error":"vault not found"}""");
        await AssertError(await stranger.PostAsync($"/api/public/v1/vaults/{vaultId}/secrets", Json("""{"env_key":"A","value":""}""")), HttpStatusCode.NotFound, """{"error":"vault not found"}""");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Bearer")]
    [InlineData("Bearer nr_short")]
    [InlineData("Bearer nr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Bearer test-admin-token-0123456789")]
    public async Task Missing_malformed_and_unknown_keys_are_refused(string? authorization)
    {
        var (_, owner, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(owner);
        var client = fixture.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/public/v1/vaults/{vaultId}/secrets") { Content = Json("""{"env_key":"A","value":"v"}""") };
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        await AssertError(await client.SendAsync(request), HttpStatusCode.Unauthorized, """{"error":"invalid or missing API key"}""");
    }

    [Fact]
    public async Task A_revoked_key_is_refused_within_a_second()
    {
        var (organizationId, client, keyId) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var admin = fixture.CreateClient(ApiFixture.AdminToken);

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/admin/v1/organizations/{organizationId}/api-keys/{keyId}")).StatusCode);
        await Task.Delay(TimeSpan.FromSeconds(1.1));

        await AssertError(await client.PostAsync($"/api/public/v1/vaults/{vaultId}/secrets", Json("""{"env_key":"A","value":"v"}""")), HttpStatusCode.Unauthorized, """{"error":"invalid or missing API key"}""");
    }

    [Theory]
    [InlineData("{oops", "request body is not valid JSON")]
    [InlineData("[1,2]", "request body must be a JSON object")]
    [InlineData("\"text\"", "request body must be a JSON object")]
    [InlineData("", "request body must be a JSON object")]
    [InlineData("""{"env_key":"A","value":12}""", "value must be a string")]
    [InlineData("""{"env_key":12,"value":"v"}""", "env_key must be a string")]
    [InlineData("""{"value":"v"}""", "env_key is required")]
    [InlineData("""{"env_key":"","value":"v"}""", "env_key cannot be empty")]
    [InlineData("""{"env_key":"1ABC","value":"v"}""", "env_key must match ^[A-Za-z_][A-Za-z0-9_]*$")]
    [InlineData("""{"env_key":"A-B","value":"v"}""", "env_key must match ^[A-Za-z_][A-Za-z0-9_]*$")]
    [InlineData("""{"env_key":"nairi_token","value":"v"}""", "env_key must not start with the reserved prefix NAIRI_")]
    [InlineData("""{"env_key":"CCAGENT_X","value":"v"}""", "env_key must not start with the reserved prefix CCAGENT_")]
    [InlineData("""{"env_key":"CcaSecret_X","value":"v"}""", "env_key must not start with the reserved prefix CCASECRET_")]
    [InlineData("""{"env_key":"A","value":"v","allowed_domains":"example.com"}""", "allowed_domains must be an array of strings")]
    [InlineData("""{"env_key":"A","value":"v","allowed_domains":[1]}""", "allowed_domains must be an array of strings")]
    [InlineData("""{"env_key":"A","value":"v","allowed_domains":["https://example.com"]}""", "invalid domain pattern \"https://example.com\": only a host name is allowed (no scheme, port, path or user info)")]
    [InlineData("""{"env_key":"A","value":"v","allowed_domains":["*"]}""", "invalid domain pattern \"*\": a wildcard is only allowed as a leading \"*.\"")]
    [InlineData("""{"env_key":"A","value":"v","allowed_domains":["*.com"]}""", "invalid domain pattern \"*.com\": a wildcard needs a domain of at least two labels")]
    [InlineData("""{"env_key":"A","value":"v","allowed_domains":["a.*.com"]}""", "invalid domain pattern \"a.*.com\": a wildcard is only allowed as a leading \"*.\"")]
    [InlineData("""{"env_key":"A","value":"v","allowed_domains":["10.0.0.1"]}""", "invalid domain pattern \"10.0.0.1\": IP addresses are not allowed")]
    [InlineData("""{"env_key":"A","value":"v","allowed_domains":["example.com:443"]}""", "invalid domain pattern \"example.com:443\": only a host name is allowed (no scheme, port, path or user info)")]
    public async Task Bad_input_gets_a_400_naming_the_problem(string body, string error)
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);

        var response = await client.PostAsync($"/api/public/v1/vaults/{vaultId}/secrets", Json(body));

        await AssertError(response, HttpStatusCode.BadRequest, JsonSerializer.Serialize(new { error }, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        var listed = await ApiFixture.ReadAsync(await client.GetAsync($"/api/public/v1/vaults/{vaultId}/secrets"));
        Assert.Equal(0, listed.GetArrayLength());
    }

    [Fact]
    public async Task Oversize_values_domain_lists_env_keys_and_bodies_are_refused()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var url = $"/api/public/v1/vaults/{vaultId}/secrets";

        await AssertError(await client.PostAsJsonAsync(url, new { env_key = "A", value = new string('v', 65_537) }), HttpStatusCode.BadRequest, """{"error":"value must be at most 65536 bytes"}""");
        await AssertError(await client.PostAsJsonAsync(url, new { env_key = "A", value = new string('é', 32_769) }), HttpStatusCode.BadRequest, """{"error":"value must be at most 65536 bytes"}""");
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync(url, new { env_key = "MAX", value = new string('v', 65_536) })).StatusCode);
        await AssertError(await client.PostAsJsonAsync(url, new { env_key = "B", value = "v", allowed_domains = Enumerable.Range(0, 51).Select(i => $"h{i}.example.com") }), HttpStatusCode.BadRequest, """{"error":"allowed_domains must have at most 50 entries"}""");
        await AssertError(await client.PostAsJsonAsync(url, new { env_key = new string('K', 257), value = "v" }), HttpStatusCode.BadRequest, """{"error":"env_key must be at most 256 characters"}""");
        var huge = await client.PostAsync(url, Json($$"""{"env_key":"C","value":"v","pad":"{{new string('x', 1_100_000)}}"}"""));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
        Assert.Equal("""{"error":"request body must be at most 1048576 bytes"}""", await huge.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Domains_are_normalized_and_deduplicated()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);

        var body = await ApiFixture.ReadAsync(await client.PostAsJsonAsync($"/api/public/v1/vaults/{vaultId}/secrets",
            new { env_key = "A", value = "v", allowed_domains = new[] { "API.Example.COM.", "api.example.com", "*.Bücher.de", "*.xn--bcher-kva.de" } }));

        Assert.Equal(["api.example.com", "*.xn--bcher-kva.de"], body.GetProperty("allowed_domains").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task Unknown_fields_are_ignored()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);

        var response = await client.PostAsync($"/api/public/v1/vaults/{vaultId}/secrets", Json("""{"env_key":"A","value":"v","colour":"blue","id":"sec_x"}"""));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task Malformed_vault_id_is_a_400()
    {
        var (_, client, _) = await fixture.NewTenantAsync();

        await AssertError(await client.PostAsync("/api/public/v1/vaults/not-a-vault/secrets", Json("""{"env_key":"A","value":"v"}""")), HttpStatusCode.BadRequest, """{"error":"invalid vault_id"}""");
        await AssertError(await client.PostAsync("/api/public/v1/vaults/sec_01KQ27AQH800XQTQPJZ0DH14SJ/secrets", Json("""{"env_key":"A","value":"v"}""")), HttpStatusCode.BadRequest, """{"error":"invalid vault_id"}""");
    }

    [Fact]
    public async Task Concurrent_creates_through_the_api_admit_one_per_env_key()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var url = $"/api/public/v1/vaults/{vaultId}/secrets";

        var responses = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => client.PostAsJsonAsync(url, new { env_key = $"K_{i % 10}", value = $"v{i}" })));

        Assert.Equal(10, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(90, responses.Count(r => r.StatusCode == HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task The_value_appears_in_no_response_and_no_log_line()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var url = $"/api/public/v1/vaults/{vaultId}/secrets";
        var value = "leak-canary-" + Guid.NewGuid().ToString("N");

        await client.PostAsJsonAsync(url, new { env_key = "CANARY", value });
        await client.PostAsJsonAsync(url, new { env_key = "CANARY", value });
        await client.PostAsJsonAsync(url, new { env_key = "bad key", value });
        await client.PostAsJsonAsync(url, new { env_key = "CANARY2", value, allowed_domains = new[] { "bad domain" } });
        await client.PostAsync(url, Json($$"""{"env_key":"X","value":"{{value}}" """));
        await client.GetAsync(url);

        Assert.True(fixture.Logs.Lines.Count > 0, "no log line captured: the test would prove nothing");
        Assert.DoesNotContain(fixture.Logs.Lines, line => line.Contains(value, StringComparison.Ordinal));
        Assert.DoesNotContain(fixture.Responses.Bodies, body => body.Contains(value, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Secrets_survive_a_restart_of_silo_and_api()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var url = $"/api/public/v1/vaults/{vaultId}/secrets";
        var created = await ApiFixture.ReadAsync(await client.PostAsJsonAsync(url, new { env_key = "DURABLE", value = "v" }));
        var key = client.DefaultRequestHeaders.Authorization!.Parameter!;

        await fixture.RestartAsync();
        var again = fixture.CreateClient(key);

        var listed = await ApiFixture.ReadAsync(await again.GetAsync(url));
        Assert.Equal(created.GetProperty("id").GetString(), listed[0].GetProperty("id").GetString());
        await AssertError(await again.PostAsJsonAsync(url, new { env_key = "DURABLE", value = "w" }), HttpStatusCode.BadRequest, """{"error":"env_key already exists in this vault"}""");
    }

    [GeneratedRegex("^sec_[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    private static partial Regex SecretId();

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")]
    private static partial Regex Timestamp();
}
