using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.RegularExpressions;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Api;

/// <summary>The runtimes table of API.md: ids, tokens, attach and detach, the environment, and vault deletion while attached.</summary>
[Collection(nameof(ApiCollection))]
public sealed partial class RuntimeEndpointTests(ApiFixture fixture)
{
    private const string Runtimes = "/api/public/v1/runtimes";
    private const string UnknownRuntime = "rtm_01KQ27AQH800XQTQPJZ0DH14SJ";

    [Fact]
    public async Task Create_returns_the_runtime_and_its_token_once()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var first = await ApiFixture.CreateVaultAsync(client, "First");
        var second = await ApiFixture.CreateVaultAsync(client, "Second");

        var response = await client.PostAsJsonAsync(Runtimes, new { name = "ci-agent", vault_ids = new[] { second, first } });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(["id", "name", "vault_ids", "created_at", "updated_at", "token"], Names(created));
        Assert.Matches(RuntimeId(), Text(created, "id"));
        Assert.Matches(Token(), Text(created, "token"));
        Assert.Equal([second, first], created.GetProperty("vault_ids").EnumerateArray().Select(v => v.GetString()));
        Assert.Equal(Text(created, "created_at"), Text(created, "updated_at"));

        var id = Text(created, "id");
        var read = await ApiFixture.ReadAsync(await client.GetAsync($"{Runtimes}/{id}"));
        Assert.Equal(["id", "name", "vault_ids", "created_at", "updated_at"], Names(read));
        var listed = await ApiFixture.ReadAsync(await client.GetAsync(Runtimes));
        Assert.Equal([id], listed.EnumerateArray().Select(r => Text(r, "id")));
        Assert.DoesNotContain(fixture.Responses.Bodies.Where(b => !b.Contains("\"token\"")), b => b.Contains(Text(created, "token")));
    }

    [Theory]
    [InlineData("{}", "name cannot be empty")]
    [InlineData("""{"name":"a","vault_ids":"vlt_01KQ27AQH800XQTQPJZ0DH14SJ"}""", "vault_ids must be an array of strings")]
    [InlineData("""{"name":"a","vault_ids":["nope"]}""", "invalid vault_id")]
    [InlineData("""{"name":"a","vault_ids":["vlt_01KQ27AQH800XQTQPJZ0DH14SJ","vlt_01KQ27AQH800XQTQPJZ0DH14SJ"]}""", "vault_ids must not repeat a vault")]
    [InlineData("""[1]""", "request body must be a JSON object")]
    public async Task Create_refuses_bad_bodies(string body, string message)
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        await AssertError(await client.PostAsync(Runtimes, Json(body)), HttpStatusCode.BadRequest, message);
    }

    [Fact]
    public async Task Create_refuses_more_than_twenty_vaults_and_vaults_of_other_organizations()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var (_, other, _) = await fixture.NewTenantAsync("Other");
        var foreign = await ApiFixture.CreateVaultAsync(other);
        var ids = Enumerable.Range(0, 21).Select(i => $"vlt_01KQ27AQH800XQTQPJZ0DH14{i:00}").ToArray();

        await AssertError(await client.PostAsJsonAsync(Runtimes, new { name = "a", vault_ids = ids }), HttpStatusCode.BadRequest, "vault_ids must hold at most 20 vaults");
        await AssertError(await client.PostAsJsonAsync(Runtimes, new { name = "a", vault_ids = new[] { foreign } }), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await client.PostAsJsonAsync(Runtimes, new { name = "a", vault_ids = new[] { UnknownVault } }), HttpStatusCode.NotFound, "vault not found");
        Assert.Empty((await ApiFixture.ReadAsync(await client.GetAsync(Runtimes))).EnumerateArray());

        // The refused create left the other organization's vault unattached: it can still be deleted.
        Assert.Equal(HttpStatusCode.NoContent, (await other.DeleteAsync($"{Vaults}/{foreign}")).StatusCode);
    }

    [Fact]
    public async Task Ids_are_checked_and_other_organizations_runtimes_are_not_found()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var (_, other, _) = await fixture.NewTenantAsync("Other");
        var theirs = Text(await ApiFixture.ReadAsync(await other.PostAsJsonAsync(Runtimes, new { name = "theirs" })), "id");

        foreach (var path in new[] { "", "/token", "/environment" })
        {
            var get = path == "/token" ? client.PostAsync($"{Runtimes}/nope{path}", null) : client.GetAsync($"{Runtimes}/nope{path}");
            await AssertError(await get, HttpStatusCode.BadRequest, "invalid runtime_id");
        }

        foreach (var id in new[] { UnknownRuntime, theirs })
        {
            await AssertError(await client.GetAsync($"{Runtimes}/{id}"), HttpStatusCode.NotFound, "runtime not found");
            await AssertError(await PatchAsync(client, $"{Runtimes}/{id}", """{"name":"mine"}"""), HttpStatusCode.NotFound, "runtime not found");
            await AssertError(await PatchAsync(client, $"{Runtimes}/{id}", """{"name":5}"""), HttpStatusCode.NotFound, "runtime not found");
            await AssertError(await client.PostAsync($"{Runtimes}/{id}/token", null), HttpStatusCode.NotFound, "runtime not found");
            await AssertError(await client.GetAsync($"{Runtimes}/{id}/environment"), HttpStatusCode.NotFound, "runtime not found");
            await AssertError(await client.DeleteAsync($"{Runtimes}/{id}"), HttpStatusCode.NotFound, "runtime not found");
        }

        Assert.Equal("theirs", Text(await ApiFixture.ReadAsync(await other.GetAsync($"{Runtimes}/{theirs}")), "name"));
    }

    [Fact]
    public async Task Patch_attaches_and_detaches_and_a_no_op_keeps_updated_at()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var first = await ApiFixture.CreateVaultAsync(client, "First");
        var second = await ApiFixture.CreateVaultAsync(client, "Second");
        var created = await ApiFixture.ReadAsync(await client.PostAsJsonAsync(Runtimes, new { name = "agent", vault_ids = new[] { first } }));
        var id = Text(created, "id");

        var noop = await ApiFixture.ReadAsync(await PatchAsync(client, $"{Runtimes}/{id}", $$"""{"name":"agent","vault_ids":["{{first}}"]}"""));
        Assert.Equal(Text(created, "updated_at"), Text(noop, "updated_at"));
        Assert.Equal(Text(created, "updated_at"), Text(await ApiFixture.ReadAsync(await PatchAsync(client, $"{Runtimes}/{id}", "{}")), "updated_at"));

        await Task.Delay(5);
        var moved = await ApiFixture.ReadAsync(await PatchAsync(client, $"{Runtimes}/{id}", $$"""{"vault_ids":["{{second}}"]}"""));
        Assert.Equal([second], moved.GetProperty("vault_ids").EnumerateArray().Select(v => v.GetString()));
        Assert.NotEqual(Text(created, "updated_at"), Text(moved, "updated_at"));

        // Detached: the first vault can go; the attached one cannot.
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"{Vaults}/{first}")).StatusCode);
        await AssertError(await client.DeleteAsync($"{Vaults}/{second}"), HttpStatusCode.BadRequest, "cannot delete vault: still assigned to 1 agent(s)");
        await AssertError(await PatchAsync(client, $"{Runtimes}/{id}", $$"""{"vault_ids":["{{first}}"]}"""), HttpStatusCode.NotFound, "vault not found");
        Assert.Equal([second], (await ApiFixture.ReadAsync(await client.GetAsync($"{Runtimes}/{id}"))).GetProperty("vault_ids").EnumerateArray().Select(v => v.GetString()));
    }

    [Fact]
    public async Task Vault_delete_names_the_runtime_count_before_the_secret_count_and_works_once_detached()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vault = await ApiFixture.CreateVaultAsync(client);
        await CreateSecretAsync(client, vault, "TOKEN");
        var one = Text(await ApiFixture.ReadAsync(await client.PostAsJsonAsync(Runtimes, new { name = "one", vault_ids = new[] { vault } })), "id");
        var two = Text(await ApiFixture.ReadAsync(await client.PostAsJsonAsync(Runtimes, new { name = "two", vault_ids = new[] { vault } })), "id");

        await AssertError(await client.DeleteAsync($"{Vaults}/{vault}"), HttpStatusCode.BadRequest, "cannot delete vault: still assigned to 2 agent(s)");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"{Runtimes}/{one}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PatchAsync(client, $"{Runtimes}/{two}", """{"vault_ids":[]}""")).StatusCode);
        await AssertError(await client.DeleteAsync($"{Vaults}/{vault}"), HttpStatusCode.BadRequest, "cannot delete vault: vault still contains 1 secret(s)");
        await AssertError(await client.GetAsync($"{Runtimes}/{one}"), HttpStatusCode.NotFound, "runtime not found");
        Assert.Equal([two], (await ApiFixture.ReadAsync(await client.GetAsync(Runtimes))).EnumerateArray().Select(r => Text(r, "id")));
    }

    [Fact]
    public async Task Token_rotation_answers_a_new_token()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var created = await ApiFixture.ReadAsync(await client.PostAsJsonAsync(Runtimes, new { name = "agent" }));

        var response = await client.PostAsync($"{Runtimes}/{Text(created, "id")}/token", null);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var rotated = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(["token"], Names(rotated));
        Assert.Matches(Token(), Text(rotated, "token"));
        Assert.NotEqual(Text(created, "token"), Text(rotated, "token"));
    }

    [Fact]
    public async Task Environment_lists_placeholders_with_the_first_vault_winning_and_the_proxy_ca()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var first = await ApiFixture.CreateVaultAsync(client, "First");
        var second = await ApiFixture.CreateVaultAsync(client, "Second");
        await CreateSecretAsync(client, first, "DATABASE_URL", "postgres://first");
        await CreateSecretAsync(client, second, "DATABASE_URL", "postgres://second");
        await CreateSecretAsync(client, second, "STRIPE_KEY", "sk_live_environment_canary");
        var id = Text(await ApiFixture.ReadAsync(await client.PostAsJsonAsync(Runtimes, new { name = "agent", vault_ids = new[] { first, second } })), "id");

        var environment = await ApiFixture.ReadAsync(await client.GetAsync($"{Runtimes}/{id}/environment"));

        Assert.Equal(["proxy_url", "variables", "ca_certificate"], Names(environment));
        Assert.Equal("http://127.0.0.1:8081", Text(environment, "proxy_url"));
        var variables = environment.GetProperty("variables").EnumerateObject().Select(p => (p.Name, p.Value.GetString())).ToArray();
        Assert.Equal(
            [("DATABASE_URL", "CCASECRET_DATABASE_URL"), ("CCASECRET_DATABASE_URL", "CCASECRET_DATABASE_URL"), ("STRIPE_KEY", "CCASECRET_STRIPE_KEY"), ("CCASECRET_STRIPE_KEY", "CCASECRET_STRIPE_KEY")],
            variables);
        using var ca = X509Certificate2.CreateFromPem(Text(environment, "ca_certificate"));
        Assert.Contains(ca.Extensions.OfType<X509BasicConstraintsExtension>(), e => e.CertificateAuthority);
        Assert.False(ca.HasPrivateKey);

        var dotenv = await client.GetAsync($"{Runtimes}/{id}/environment?format=dotenv");
        Assert.Equal(HttpStatusCode.OK, dotenv.StatusCode);
        Assert.Equal("text/plain", dotenv.Content.Headers.ContentType?.MediaType);
        var lines = (await dotenv.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#'));
        Assert.Equal(["DATABASE_URL=CCASECRET_DATABASE_URL", "CCASECRET_DATABASE_URL=CCASECRET_DATABASE_URL", "STRIPE_KEY=CCASECRET_STRIPE_KEY", "CCASECRET_STRIPE_KEY=CCASECRET_STRIPE_KEY"], lines);
        await AssertError(await client.GetAsync($"{Runtimes}/{id}/environment?format=yaml"), HttpStatusCode.BadRequest, "format must be json or dotenv");

        // The same CA on every call, and no value anywhere.
        Assert.Equal(Text(environment, "ca_certificate"), Text(await ApiFixture.ReadAsync(await client.GetAsync($"{Runtimes}/{id}/environment")), "ca_certificate"));
        Assert.DoesNotContain(fixture.Responses.Bodies, b => b.Contains("sk_live_environment_canary") || b.Contains("postgres://first"));
    }

    [GeneratedRegex("^rtm_[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    private static partial Regex RuntimeId();

    [GeneratedRegex("^rt_[A-Za-z0-9_-]{43,}$")]
    private static partial Regex Token();
}
