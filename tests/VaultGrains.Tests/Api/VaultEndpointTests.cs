using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Api;

/// <summary>The Vaults table of API.md: create, list, get, update, delete, with every documented error.</summary>
[Collection(nameof(ApiCollection))]
public sealed partial class VaultEndpointTests(ApiFixture fixture)
{
    [Fact]
    public async Task Create_returns_the_vault_object()
    {
        var (_, client, _) = await fixture.NewTenantAsync();

        var response = await client.PostAsJsonAsync(Vaults, new { name = "Production", description = "Prod secrets" });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var vault = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(["id", "name", "description", "secret_count", "created_at", "updated_at"], Names(vault));
        Assert.Matches(VaultId(), Text(vault, "id"));
        Assert.Equal("Production", Text(vault, "name"));
        Assert.Equal("Prod secrets", Text(vault, "description"));
        Assert.Equal(0, vault.GetProperty("secret_count").GetInt32());
        Assert.Matches(Timestamp(), Text(vault, "created_at"));
        Assert.Equal(Text(vault, "created_at"), Text(vault, "updated_at"));

        var bare = await ApiFixture.ReadAsync(await client.PostAsJsonAsync(Vaults, new { name = "No description" }));
        Assert.Equal(JsonValueKind.Null, bare.GetProperty("description").ValueKind);
    }

    [Theory]
    [InlineData("{}", "name cannot be empty")]
    [InlineData("""{"name":""}""", "name cannot be empty")]
    [InlineData("""{"name":"   "}""", "name cannot be empty")]
    [InlineData("""{"name":null}""", "name cannot be empty")]
    [InlineData("""{"name":12}""", "name must be a string")]
    [InlineData("""{"name":"ok","description":12}""", "description must be a string")]
    [InlineData("{oops", "request body is not valid JSON")]
    [InlineData("[]", "request body must be a JSON object")]
    [InlineData("", "request body must be a JSON object")]
    public async Task Create_refuses_bad_bodies(string body, string error)
    {
        var (_, client, _) = await fixture.NewTenantAsync();

        await AssertError(await client.PostAsync(Vaults, Json(body)), HttpStatusCode.BadRequest, error);

        Assert.Equal(0, (await ApiFixture.ReadAsync(await client.GetAsync(Vaults))).GetArrayLength());
    }

    [Fact]
    public async Task Name_and_description_limits_count_characters()
    {
        var (_, client, _) = await fixture.NewTenantAsync();

        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync(Vaults, new { name = new string('n', 200), description = new string('d', 2_000) })).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync(Vaults, new { name = string.Concat(Enumerable.Repeat("🔐", 200)) })).StatusCode);
        await AssertError(await client.PostAsJsonAsync(Vaults, new { name = new string('n', 201) }), HttpStatusCode.BadRequest, "name must be at most 200 characters");
        await AssertError(await client.PostAsJsonAsync(Vaults, new { name = "ok", description = new string('d', 2_001) }), HttpStatusCode.BadRequest, "description must be at most 2000 characters");
        var huge = await client.PostAsync(Vaults, Json($$"""{"name":"big","pad":"{{new string('x', 1_100_000)}}"}"""));
        await AssertError(huge, HttpStatusCode.RequestEntityTooLarge, "request body must be at most 1048576 bytes");
    }

    [Fact]
    public async Task List_is_a_bare_array_in_creation_order_with_current_secret_counts()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var ids = new List<string>();
        foreach (var name in new[] { "first", "second", "third" })
        {
            ids.Add(await ApiFixture.CreateVaultAsync(client, name));
        }

        await CreateSecretAsync(client, ids[1], "A");
        await CreateSecretAsync(client, ids[1], "B");
        var listed = await ApiFixture.ReadAsync(await client.GetAsync(Vaults));

        Assert.Equal(JsonValueKind.Array, listed.ValueKind);
        Assert.Equal(ids, listed.EnumerateArray().Select(v => Text(v, "id")));
        Assert.Equal([0, 2, 0], listed.EnumerateArray().Select(v => v.GetProperty("secret_count").GetInt32()));
        foreach (var vault in listed.EnumerateArray())
        {
            var single = await ApiFixture.ReadAsync(await client.GetAsync($"{Vaults}/{Text(vault, "id")}"));
            Assert.Equal(single.GetRawText(), vault.GetRawText());
        }

        var secretId = Text((await ApiFixture.ReadAsync(await client.GetAsync(Secrets(ids[1]))))[0], "id");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync(Secret(ids[1], secretId))).StatusCode);
        Assert.Equal(1, (await ApiFixture.ReadAsync(await client.GetAsync(Vaults)))[1].GetProperty("secret_count").GetInt32());
    }

    [Fact]
    public async Task Get_returns_the_vault_and_refuses_malformed_and_unknown_ids()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var created = await ApiFixture.ReadAsync(await client.PostAsJsonAsync(Vaults, new { name = "Production", description = "d" }));

        var fetched = await ApiFixture.ReadAsync(await client.GetAsync($"{Vaults}/{Text(created, "id")}"));

        Assert.Equal(created.GetRawText(), fetched.GetRawText());
        await AssertError(await client.GetAsync($"{Vaults}/{UnknownVault}"), HttpStatusCode.NotFound, "vault not found");
        foreach (var malformed in new[] { "abc", "vlt_", "vlt_01kq27aqh800xqtqpjz0dh14sj", "sec_01KQ27AQH800XQTQPJZ0DH14SJ", "vlt_01KQ27AQH800XQTQPJZ0DH14SJX", "vlt_81KQ27AQH800XQTQPJZ0DH14SJ", "vlt_01KQ27AQH800XQTQPJZ0DH14SU" })
        {
            await AssertError(await client.GetAsync($"{Vaults}/{malformed}"), HttpStatusCode.BadRequest, "invalid vault_id");
        }
    }

    [Fact]
    public async Task Patch_changes_only_the_fields_present_and_moves_updated_at()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var created = await ApiFixture.ReadAsync(await client.PostAsJsonAsync(Vaults, new { name = "Old", description = "keep me" }));
        var url = $"{Vaults}/{Text(created, "id")}";
        await Task.Delay(5);

        var renamed = await ApiFixture.ReadAsync(await PatchAsync(client, url, """{"name":"New"}"""));
        Assert.Equal("New", Text(renamed, "name"));
        Assert.Equal("keep me", Text(renamed, "description"));
        Assert.Equal(Text(created, "created_at"), Text(renamed, "created_at"));
        Assert.True(string.CompareOrdinal(Text(renamed, "updated_at"), Text(created, "updated_at")) > 0);

        var described = await ApiFixture.ReadAsync(await PatchAsync(client, url, """{"description":"new text"}"""));
        Assert.Equal(("New", "new text"), (Text(described, "name"), Text(described, "description")));

        var cleared = await ApiFixture.ReadAsync(await PatchAsync(client, url, """{"description":null}"""));
        Assert.Equal(JsonValueKind.Null, cleared.GetProperty("description").ValueKind);
        Assert.Equal(cleared.GetRawText(), (await ApiFixture.ReadAsync(await client.GetAsync(url))).GetRawText());
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"name":"Same"}""")]
    [InlineData("""{"name":"Same","description":"text"}""")]
    [InlineData("""{"description":"text","colour":"blue"}""")]
    public async Task Patch_without_a_change_is_a_no_op_that_keeps_updated_at(string body)
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var created = await ApiFixture.ReadAsync(await client.PostAsJsonAsync(Vaults, new { name = "Same", description = "text" }));
        var url = $"{Vaults}/{Text(created, "id")}";
        await Task.Delay(5);

        var patched = await ApiFixture.ReadAsync(await PatchAsync(client, url, body));

        Assert.Equal(created.GetRawText(), patched.GetRawText());
        Assert.Equal(created.GetRawText(), (await ApiFixture.ReadAsync(await client.GetAsync(url))).GetRawText());
    }

    [Theory]
    [InlineData("""{"name":""}""", "name cannot be empty")]
    [InlineData("""{"name":null}""", "name cannot be empty")]
    [InlineData("""{"name":false}""", "name must be a string")]
    [InlineData("{oops", "request body is not valid JSON")]
    [InlineData("42", "request body must be a JSON object")]
    public async Task Patch_refuses_bad_bodies_but_reports_an_unknown_vault_first(string body, string error)
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client, "Unchanged");

        await AssertError(await PatchAsync(client, $"{Vaults}/{vaultId}", body), HttpStatusCode.BadRequest, error);
        await AssertError(await PatchAsync(client, $"{Vaults}/{UnknownVault}", body), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await PatchAsync(client, $"{Vaults}/not-a-vault", body), HttpStatusCode.BadRequest, "invalid vault_id");
        Assert.Equal("Unchanged", Text(await ApiFixture.ReadAsync(await client.GetAsync($"{Vaults}/{vaultId}")), "name"));
    }

    [Fact]
    public async Task Patch_limits_and_a_valid_body_on_an_unknown_vault()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);

        await AssertError(await client.PatchAsJsonAsync($"{Vaults}/{vaultId}", new { name = new string('n', 201) }), HttpStatusCode.BadRequest, "name must be at most 200 characters");
        await AssertError(await client.PatchAsJsonAsync($"{Vaults}/{vaultId}", new { description = new string('d', 2_001) }), HttpStatusCode.BadRequest, "description must be at most 2000 characters");
        await AssertError(await client.PatchAsJsonAsync($"{Vaults}/{UnknownVault}", new { name = "fine" }), HttpStatusCode.NotFound, "vault not found");
    }

    [Fact]
    public async Task Delete_is_refused_while_secrets_remain_then_removes_the_vault_its_listing_and_its_blob()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var keep = await ApiFixture.CreateVaultAsync(client, "keep");
        var vaultId = await ApiFixture.CreateVaultAsync(client, "doomed");
        var first = Text(await CreateSecretAsync(client, vaultId, "ONE"), "id");
        var second = Text(await CreateSecretAsync(client, vaultId, "TWO"), "id");
        var url = $"{Vaults}/{vaultId}";

        await AssertError(await client.DeleteAsync(url), HttpStatusCode.BadRequest, "cannot delete vault: vault still contains 2 secret(s)");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync(Secret(vaultId, first))).StatusCode);
        await AssertError(await client.DeleteAsync(url), HttpStatusCode.BadRequest, "cannot delete vault: vault still contains 1 secret(s)");
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync(Secret(vaultId, second))).StatusCode);
        Assert.NotNull(await ReadVaultBlobAsync(fixture, vaultId));

        var deleted = await client.DeleteAsync(url);

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal("", await deleted.Content.ReadAsStringAsync());
        await AssertError(await client.GetAsync(url), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await client.GetAsync(Secrets(vaultId)), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await client.PostAsJsonAsync(Secrets(vaultId), new { env_key = "ONE", value = "v" }), HttpStatusCode.NotFound, "vault not found");
        await AssertError(await client.DeleteAsync(url), HttpStatusCode.NotFound, "vault not found");
        Assert.Equal([keep], (await ApiFixture.ReadAsync(await client.GetAsync(Vaults))).EnumerateArray().Select(v => Text(v, "id")));
        Assert.Null(await ReadVaultBlobAsync(fixture, vaultId));
    }

    [Fact]
    public async Task Delete_refuses_malformed_and_unknown_ids()
    {
        var (_, client, _) = await fixture.NewTenantAsync();

        await AssertError(await client.DeleteAsync($"{Vaults}/vault-1"), HttpStatusCode.BadRequest, "invalid vault_id");
        await AssertError(await client.DeleteAsync($"{Vaults}/{UnknownVault}"), HttpStatusCode.NotFound, "vault not found");
    }

    [Fact]
    public async Task Vaults_and_the_listing_survive_a_restart()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client, "durable");
        await CreateSecretAsync(client, vaultId, "KEPT");
        var before = await ApiFixture.ReadAsync(await client.GetAsync(Vaults));
        var key = client.DefaultRequestHeaders.Authorization!.Parameter!;

        await fixture.RestartAsync();

        var after = await ApiFixture.ReadAsync(await fixture.CreateClient(key).GetAsync(Vaults));
        Assert.Equal(before.GetRawText(), after.GetRawText());
        Assert.Equal(1, after[0].GetProperty("secret_count").GetInt32());
    }

    [GeneratedRegex("^vlt_[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    private static partial Regex VaultId();

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")]
    private static partial Regex Timestamp();
}
