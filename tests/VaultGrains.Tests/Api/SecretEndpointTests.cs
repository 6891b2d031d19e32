using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Api;

/// <summary>The Secrets table of API.md beyond create (CreateSecretTests): list, get, rotate, delete.</summary>
[Collection(nameof(ApiCollection))]
public sealed class SecretEndpointTests(ApiFixture fixture)
{
    private static readonly string[] SecretFields = ["id", "env_key", "allowed_domains", "created_at", "updated_at"];

    [Fact]
    public async Task List_is_a_bare_array_of_secret_objects_in_creation_order()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        Assert.Equal("[]", await (await client.GetAsync(Secrets(vaultId))).Content.ReadAsStringAsync());

        var created = new List<JsonElement>();
        foreach (var envKey in new[] { "ZETA", "ALPHA", "MID" })
        {
            created.Add(await CreateSecretAsync(client, vaultId, envKey, "v", "*.example.com"));
        }

        var listed = await ApiFixture.ReadAsync(await client.GetAsync(Secrets(vaultId)));

        Assert.Equal(created.Select(s => s.GetRawText()), listed.EnumerateArray().Select(s => s.GetRawText()));
        Assert.All(listed.EnumerateArray(), s => Assert.Equal(SecretFields, Names(s)));
        await AssertError(await client.GetAsync(Secrets(UnknownVault)), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await client.GetAsync(Secrets("vlt_nope")), HttpStatusCode.BadRequest, "invalid vault_id");
    }

    [Fact]
    public async Task Get_returns_the_five_fields_and_refuses_malformed_unknown_and_misplaced_ids()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var otherVault = await ApiFixture.CreateVaultAsync(client, "other");
        var created = await CreateSecretAsync(client, vaultId, "TOKEN", "v", "api.example.com");
        var secretId = Text(created, "id");

        var fetched = await ApiFixture.ReadAsync(await client.GetAsync(Secret(vaultId, secretId)));

        Assert.Equal(created.GetRawText(), fetched.GetRawText());
        await AssertError(await client.GetAsync(Secret(vaultId, UnknownSecret)), HttpStatusCode.NotFound, "secret not found");
        await AssertError(await client.GetAsync(Secret(otherVault, secretId)), HttpStatusCode.NotFound, "secret not found");
        await AssertError(await client.GetAsync(Secret(UnknownVault, secretId)), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await client.GetAsync(Secret(vaultId, "sec_x")), HttpStatusCode.BadRequest, "invalid secret_id");
        await AssertError(await client.GetAsync(Secret(vaultId, vaultId)), HttpStatusCode.BadRequest, "invalid secret_id");
        await AssertError(await client.GetAsync(Secret("vlt_x", "sec_x")), HttpStatusCode.BadRequest, "invalid vault_id");
    }

    [Fact]
    public async Task Rotating_the_value_moves_updated_at_only_and_removes_the_old_ciphertext_from_storage()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var created = await CreateSecretAsync(client, vaultId, "DATABASE_URL", "postgresql://old", "*.example.com");
        var url = Secret(vaultId, Text(created, "id"));
        var before = await ReadVaultBlobAsync(fixture, vaultId);
        var old = (await ReadVaultStateAsync(fixture, vaultId)).Secrets.Single().Value;
        Assert.True(Contains(before!, old.Ciphertext), "the test must find the old ciphertext in the blob before the rotation");
        await Task.Delay(5);

        var rotated = await ApiFixture.ReadAsync(await client.PatchAsJsonAsync(url, new { value = "postgresql://new" }));

        Assert.Equal(SecretFields, Names(rotated));
        Assert.Equal((Text(created, "id"), Text(created, "env_key"), Text(created, "created_at")), (Text(rotated, "id"), Text(rotated, "env_key"), Text(rotated, "created_at")));
        Assert.Equal(["*.example.com"], rotated.GetProperty("allowed_domains").EnumerateArray().Select(d => d.GetString()));
        Assert.True(string.CompareOrdinal(Text(rotated, "updated_at"), Text(created, "updated_at")) > 0);
        Assert.Equal(rotated.GetRawText(), (await ApiFixture.ReadAsync(await client.GetAsync(url))).GetRawText());

        var after = await ReadVaultBlobAsync(fixture, vaultId);
        var current = (await ReadVaultStateAsync(fixture, vaultId)).Secrets.Single();
        Assert.False(Contains(after!, old.Ciphertext), "the old ciphertext is still in storage");
        Assert.False(Contains(after!, old.WrappedDataKey), "the old wrapped data key is still in storage");
        Assert.NotEqual(old.WrappedDataKey, current.Value.WrappedDataKey);
        Assert.Equal(2, current.Version);
    }

    [Fact]
    public async Task Replacing_allowed_domains_normalizes_and_replaces_the_whole_list()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var url = Secret(vaultId, Text(await CreateSecretAsync(client, vaultId, "TOKEN", "v", "a.example.com", "b.example.com"), "id"));

        var replaced = await ApiFixture.ReadAsync(await client.PatchAsJsonAsync(url, new { allowed_domains = new[] { "*.Bücher.DE.", "c.example.com", "C.example.com" } }));
        Assert.Equal(["*.xn--bcher-kva.de", "c.example.com"], replaced.GetProperty("allowed_domains").EnumerateArray().Select(d => d.GetString()));

        var cleared = await ApiFixture.ReadAsync(await client.PatchAsJsonAsync(url, new { allowed_domains = Array.Empty<string>() }));
        Assert.Equal(0, cleared.GetProperty("allowed_domains").GetArrayLength());
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"value":"same-value"}""")]
    [InlineData("""{"allowed_domains":["API.example.com."]}""")]
    [InlineData("""{"value":"same-value","allowed_domains":["api.example.com"],"env_key":"TOKEN"}""")]
    [InlineData("""{"env_key":"TOKEN","unknown":1}""")]
    public async Task Patch_without_a_change_is_a_no_op_that_keeps_updated_at_and_storage(string body)
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var created = await CreateSecretAsync(client, vaultId, "TOKEN", "same-value", "api.example.com");
        var url = Secret(vaultId, Text(created, "id"));
        var blob = await ReadVaultBlobAsync(fixture, vaultId);
        await Task.Delay(5);

        var patched = await ApiFixture.ReadAsync(await PatchAsync(client, url, body));

        Assert.Equal(created.GetRawText(), patched.GetRawText());
        Assert.Equal(created.GetRawText(), (await ApiFixture.ReadAsync(await client.GetAsync(url))).GetRawText());
        Assert.Equal(blob, await ReadVaultBlobAsync(fixture, vaultId));
    }

    [Theory]
    [InlineData("""{"value":""}""", "value cannot be empty")]
    [InlineData("""{"value":null}""", "value cannot be empty")]
    [InlineData("""{"value":["x"]}""", "value must be a string")]
    [InlineData("""{"env_key":"OTHER"}""", "env_key cannot be changed")]
    [InlineData("""{"env_key":"token"}""", "env_key cannot be changed")]
    [InlineData("""{"env_key":null,"value":"x"}""", "env_key cannot be changed")]
    [InlineData("""{"env_key":7}""", "env_key must be a string")]
    [InlineData("""{"allowed_domains":"example.com"}""", "allowed_domains must be an array of strings")]
    [InlineData("""{"allowed_domains":["*.com"]}""", "invalid domain pattern \"*.com\": a wildcard needs a domain of at least two labels")]
    [InlineData("{oops", "request body is not valid JSON")]
    [InlineData("[]", "request body must be a JSON object")]
    public async Task Patch_refuses_bad_bodies_after_checking_the_vault(string body, string error)
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var created = await CreateSecretAsync(client, vaultId, "TOKEN");
        var url = Secret(vaultId, Text(created, "id"));

        await AssertError(await PatchAsync(client, url, body), HttpStatusCode.BadRequest, error);
        await AssertError(await PatchAsync(client, Secret(UnknownVault, Text(created, "id")), body), HttpStatusCode.NotFound, "vault not found");

        Assert.Equal(created.GetRawText(), (await ApiFixture.ReadAsync(await client.GetAsync(url))).GetRawText());
    }

    [Fact]
    public async Task Patch_of_unknown_or_malformed_ids_and_oversize_values()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var url = Secret(vaultId, Text(await CreateSecretAsync(client, vaultId, "TOKEN"), "id"));

        await AssertError(await client.PatchAsJsonAsync(Secret(vaultId, UnknownSecret), new { value = "x" }), HttpStatusCode.NotFound, "secret not found");
        await AssertError(await client.PatchAsJsonAsync(Secret(vaultId, "sec_1"), new { value = "x" }), HttpStatusCode.BadRequest, "invalid secret_id");
        await AssertError(await client.PatchAsJsonAsync(Secret("vlt_1", "sec_1"), new { value = "x" }), HttpStatusCode.BadRequest, "invalid vault_id");
        await AssertError(await client.PatchAsJsonAsync(url, new { value = new string('v', 65_537) }), HttpStatusCode.BadRequest, "value must be at most 65536 bytes");
        await AssertError(await client.PatchAsJsonAsync(url, new { allowed_domains = Enumerable.Range(0, 51).Select(i => $"h{i}.example.com") }), HttpStatusCode.BadRequest, "allowed_domains must have at most 50 entries");
        await AssertError(await client.PatchAsync(url, Json($$"""{"value":"{{new string('x', 1_100_000)}}"}""")), HttpStatusCode.RequestEntityTooLarge, "request body must be at most 1048576 bytes");
    }

    [Fact]
    public async Task Delete_is_permanent_and_frees_the_env_key_for_a_new_secret()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var keep = await CreateSecretAsync(client, vaultId, "KEEP");
        var doomed = await CreateSecretAsync(client, vaultId, "API_TOKEN", "first-value");
        var url = Secret(vaultId, Text(doomed, "id"));
        var doomedCiphertext = (await ReadVaultStateAsync(fixture, vaultId)).Secrets.Single(s => s.EnvKey == "API_TOKEN").Value.Ciphertext;

        var deleted = await client.DeleteAsync(url);

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal("", await deleted.Content.ReadAsStringAsync());
        await AssertError(await client.GetAsync(url), HttpStatusCode.NotFound, "secret not found");
        await AssertError(await client.PatchAsJsonAsync(url, new { value = "x" }), HttpStatusCode.NotFound, "secret not found");
        await AssertError(await client.DeleteAsync(url), HttpStatusCode.NotFound, "secret not found");
        Assert.Equal([Text(keep, "id")], (await ApiFixture.ReadAsync(await client.GetAsync(Secrets(vaultId)))).EnumerateArray().Select(s => Text(s, "id")));
        Assert.Equal(1, (await ApiFixture.ReadAsync(await client.GetAsync($"{Vaults}/{vaultId}"))).GetProperty("secret_count").GetInt32());
        Assert.False(Contains((await ReadVaultBlobAsync(fixture, vaultId))!, doomedCiphertext), "the deleted secret's ciphertext is still in storage");

        var again = await CreateSecretAsync(client, vaultId, "API_TOKEN", "second-value");

        Assert.NotEqual(Text(doomed, "id"), Text(again, "id"));
        Assert.Equal(["KEEP", "API_TOKEN"], (await ApiFixture.ReadAsync(await client.GetAsync(Secrets(vaultId)))).EnumerateArray().Select(s => Text(s, "env_key")));
    }

    [Fact]
    public async Task Delete_refuses_malformed_and_unknown_ids()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);

        await AssertError(await client.DeleteAsync(Secret(vaultId, UnknownSecret)), HttpStatusCode.NotFound, "secret not found");
        await AssertError(await client.DeleteAsync(Secret(UnknownVault, UnknownSecret)), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await client.DeleteAsync(Secret(vaultId, "nope")), HttpStatusCode.BadRequest, "invalid secret_id");
        await AssertError(await client.DeleteAsync(Secret("nope", UnknownSecret)), HttpStatusCode.BadRequest, "invalid vault_id");
    }

    [Fact]
    public async Task Public_endpoints_refuse_a_missing_key_before_looking_at_ids()
    {
        var anonymous = fixture.CreateClient();

        foreach (var (method, url) in new[]
        {
            (HttpMethod.Get, Vaults), (HttpMethod.Post, Vaults), (HttpMethod.Get, $"{Vaults}/bad"), (HttpMethod.Patch, $"{Vaults}/bad"),
            (HttpMethod.Delete, $"{Vaults}/bad"), (HttpMethod.Get, Secrets("bad")), (HttpMethod.Post, Secrets("bad")),
            (HttpMethod.Get, Secret("bad", "bad")), (HttpMethod.Patch, Secret("bad", "bad")), (HttpMethod.Delete, Secret("bad", "bad")),
        })
        {
            using var request = new HttpRequestMessage(method, url) { Content = method == HttpMethod.Get || method == HttpMethod.Delete ? null : Json("{oops") };
            await AssertError(await anonymous.SendAsync(request), HttpStatusCode.Unauthorized, "invalid or missing API key");
        }
    }
}
