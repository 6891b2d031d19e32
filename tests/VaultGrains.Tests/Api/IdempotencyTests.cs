using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Azure.Data.Tables;
using Microsoft.Extensions.DependencyInjection;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Api;

/// <summary>The API and silo of <see cref="ApiFixture"/> with a silo clock the test can move forward.</summary>
public sealed class IdempotencyFixture : ApiFixture
{
    public OffsetClock SiloClock { get; } = new();

    protected override void ConfigureSilo(IServiceCollection services) => services.AddSingleton<TimeProvider>(SiloClock);
}

/// <summary>The real clock, moved by <see cref="Offset"/>.</summary>
public sealed class OffsetClock : TimeProvider
{
    public TimeSpan Offset { get; set; }

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset;
}

/// <summary><c>Idempotency-Key</c> on POST (API.md): replay, mismatch, concurrency, restart, expiry, and no credential in storage.</summary>
public sealed class IdempotencyTests(IdempotencyFixture fixture) : IClassFixture<IdempotencyFixture>
{
    private const string Runtimes = "/api/public/v1/runtimes";

    [Fact]
    public async Task A_repeated_create_gets_the_first_answer_and_makes_one_secret()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var key = NewKey();

        var first = await SendAsync(client, Secrets(vaultId), """{"env_key":"DATABASE_URL","value":"postgres://u:p@db/x"}""", key);
        var second = await SendAsync(client, Secrets(vaultId), """{"env_key":"DATABASE_URL","value":"postgres://u:p@db/x"}""", key);

        Assert.Equal(HttpStatusCode.Created, first.Status);
        Assert.Equal(HttpStatusCode.Created, second.Status);
        Assert.Equal(first.Body, second.Body);
        Assert.Null(first.Replayed);
        Assert.Equal("true", second.Replayed);
        Assert.Equal("application/json", second.ContentType);
        var listed = await ApiFixture.ReadAsync(await client.GetAsync(Secrets(vaultId)));
        Assert.Equal([Text(JsonDocument.Parse(first.Body).RootElement, "id")], listed.EnumerateArray().Select(s => Text(s, "id")));

        // A refusal is an answer too: the same key and body get it again, and it is not recorded twice.
        var refusalKey = NewKey();
        var refused = await SendAsync(client, Secrets(vaultId), """{"env_key":"DATABASE_URL","value":"other"}""", refusalKey);
        var refusedAgain = await SendAsync(client, Secrets(vaultId), """{"env_key":"DATABASE_URL","value":"other"}""", refusalKey);
        Assert.Equal((HttpStatusCode.BadRequest, """{"error":"env_key already exists in this vault"}"""), (refused.Status, refused.Body));
        Assert.Equal((refused.Status, refused.Body, "true"), (refusedAgain.Status, refusedAgain.Body, refusedAgain.Replayed));
    }

    [Fact]
    public async Task The_same_key_with_another_body_or_path_is_refused_and_runs_nothing()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var key = NewKey();
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(client, Vaults, """{"name":"One"}""", key)).Status);

        var otherBody = await SendAsync(client, Vaults, """{"name":"Two"}""", key);
        var sameJsonOtherBytes = await SendAsync(client, Vaults, """{ "name":"One"}""", key);
        var otherPath = await SendAsync(client, Runtimes, """{"name":"One"}""", key);

        foreach (var answer in new[] { otherBody, sameJsonOtherBytes, otherPath })
        {
            Assert.Equal((HttpStatusCode.BadRequest, """{"error":"idempotency key reused with a different request"}"""), (answer.Status, answer.Body));
        }

        Assert.Equal(1, (await ApiFixture.ReadAsync(await client.GetAsync(Vaults))).GetArrayLength());
        Assert.Equal(0, (await ApiFixture.ReadAsync(await client.GetAsync(Runtimes))).GetArrayLength());
    }

    [Theory]
    [InlineData("ctl\u0001")]
    [InlineData("tab\there")]
    [InlineData("caf\u00e9")]
    [InlineData("del\u007f")]
    [InlineData(null)]
    public async Task A_malformed_key_is_refused(string? key)
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, Vaults) { Content = Json("""{"name":"x"}""") };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key ?? new string('k', 256));

        await AssertError(await client.SendAsync(request), HttpStatusCode.BadRequest, "Idempotency-Key must be 1 to 255 printable ASCII characters");

        Assert.Equal(0, (await ApiFixture.ReadAsync(await client.GetAsync(Vaults))).GetArrayLength());
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(client, Vaults, """{"name":"x"}""", " !~" + new string('k', 252))).Status);
    }

    [Fact]
    public async Task Keys_are_per_organization()
    {
        var (_, first, _) = await fixture.NewTenantAsync("First");
        var (_, second, _) = await fixture.NewTenantAsync("Second");
        var key = NewKey();

        var a = await SendAsync(first, Vaults, """{"name":"Same"}""", key);
        var b = await SendAsync(second, Vaults, """{"name":"Same"}""", key);

        Assert.Equal((HttpStatusCode.Created, HttpStatusCode.Created), (a.Status, b.Status));
        Assert.NotEqual(a.Body, b.Body);
        Assert.Null(b.Replayed);
    }

    [Fact]
    public async Task Twenty_concurrent_repeats_create_exactly_one_runtime_and_all_get_its_token()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var key = NewKey();
        var body = $$"""{"name":"ci","vault_ids":["{{vaultId}}"]}""";

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => SendAsync(client, Runtimes, body, key)));

        Assert.All(answers, answer => Assert.Equal(HttpStatusCode.Created, answer.Status));
        Assert.Single(answers.Select(a => a.Body).Distinct());
        Assert.Equal(19, answers.Count(a => a.Replayed == "true"));
        var runtimes = await ApiFixture.ReadAsync(await client.GetAsync(Runtimes));
        Assert.Equal(1, runtimes.GetArrayLength());
        Assert.Equal(Text(JsonDocument.Parse(answers[0].Body).RootElement, "id"), Text(runtimes[0], "id"));
    }

    [Fact]
    public async Task Credentials_are_replayed_but_never_stored_in_clear()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var admin = fixture.CreateClient(ApiFixture.AdminToken);
        var runtimeKey = NewKey();
        var apiKeyKey = NewKey();

        var runtime = await SendAsync(client, Runtimes, """{"name":"agent"}""", runtimeKey);
        var runtimeAgain = await SendAsync(client, Runtimes, """{"name":"agent"}""", runtimeKey);
        var apiKey = await SendAsync(admin, $"/api/admin/v1/organizations/{organizationId}/api-keys", """{"name":"deploy"}""", apiKeyKey);
        var apiKeyAgain = await SendAsync(admin, $"/api/admin/v1/organizations/{organizationId}/api-keys", """{"name":"deploy"}""", apiKeyKey);

        Assert.Equal((runtime.Status, runtime.Body), (runtimeAgain.Status, runtimeAgain.Body));
        Assert.Equal((apiKey.Status, apiKey.Body), (apiKeyAgain.Status, apiKeyAgain.Body));
        var token = Text(JsonDocument.Parse(runtime.Body).RootElement, "token");
        var publicKey = Text(JsonDocument.Parse(apiKey.Body).RootElement, "key");

        // The replayed key is the one that works, and only one key was made.
        Assert.Equal(HttpStatusCode.OK, (await fixture.CreateClient(publicKey).GetAsync(Vaults)).StatusCode);
        Assert.Equal(2, (await ApiFixture.ReadAsync(await admin.GetAsync($"/api/admin/v1/organizations/{organizationId}/api-keys"))).GetArrayLength());

        var stored = await ReadIdempotencyTableAsync();
        Assert.True(stored.Count >= 2 && stored.All(bytes => bytes.Length > 0), "no idempotency record read: the test would prove nothing");
        foreach (var secret in new[] { token, publicKey, runtimeKey, apiKeyKey, token[3..], publicKey[3..] })
        {
            Assert.DoesNotContain(stored, bytes => Contains(bytes, Encoding.UTF8.GetBytes(secret)));
        }
    }

    [Fact]
    public async Task The_record_survives_a_restart_and_expires_after_24_hours()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var key = NewKey();
        var first = await SendAsync(client, Vaults, """{"name":"Durable"}""", key);
        Assert.Equal(HttpStatusCode.Created, first.Status);

        await fixture.RestartAsync();
        client = fixture.CreateClient(client.DefaultRequestHeaders.Authorization!.Parameter);
        var afterRestart = await SendAsync(client, Vaults, """{"name":"Durable"}""", key);
        Assert.Equal((HttpStatusCode.Created, first.Body, "true"), (afterRestart.Status, afterRestart.Body, afterRestart.Replayed));
        Assert.Equal(1, (await ApiFixture.ReadAsync(await client.GetAsync(Vaults))).GetArrayLength());

        fixture.SiloClock.Offset = TimeSpan.FromHours(23.9);
        Assert.Equal("true", (await SendAsync(client, Vaults, """{"name":"Durable"}""", key)).Replayed);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(client, Vaults, """{"name":"Other"}""", key)).Status);

        fixture.SiloClock.Offset = TimeSpan.FromHours(24.1);
        var expired = await SendAsync(client, Vaults, """{"name":"Other"}""", key);
        Assert.Equal((HttpStatusCode.Created, (string?)null), (expired.Status, expired.Replayed));
        Assert.Equal(2, (await ApiFixture.ReadAsync(await client.GetAsync(Vaults))).GetArrayLength());
        fixture.SiloClock.Offset = TimeSpan.Zero;
    }

    [Fact]
    public async Task The_sweep_deletes_records_last_written_before_its_cutoff_and_nothing_newer()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var key = NewKey();
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(client, Vaults, """{"name":"Swept"}""", key)).Status);
        var table = new TableClient(fixture.Storage.ConnectionString, fixture.Storage.IdempotencyTable);
        var sweep = new VaultGrains.Silo.IdempotencyRecordSweep(table, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<VaultGrains.Silo.IdempotencyRecordSweep>.Instance);

        Assert.Equal(0, await sweep.SweepAsync(DateTimeOffset.UtcNow - VaultGrains.Silo.IdempotencyRecordSweep.Age, CancellationToken.None));
        Assert.Equal("true", (await SendAsync(client, Vaults, """{"name":"Swept"}""", key)).Replayed);

        // A cutoff after every write (as 25 hours later would be) removes the rows.
        var rows = (await ReadIdempotencyTableAsync()).Count;
        Assert.Equal(rows, await sweep.SweepAsync(DateTimeOffset.UtcNow.AddMinutes(1), CancellationToken.None));
        Assert.Empty(await ReadIdempotencyTableAsync());
    }

    private static string NewKey() => Guid.NewGuid().ToString();

    private static async Task<Answer> SendAsync(HttpClient client, string url, string body, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = Json(body) };
        request.Headers.Add("Idempotency-Key", key);
        var response = await client.SendAsync(request);
        return new Answer(response.StatusCode, await response.Content.ReadAsStringAsync(), response.Content.Headers.ContentType?.MediaType,
            response.Headers.TryGetValues("Idempotent-Replayed", out var values) ? values.Single() : null);
    }

    /// <summary>Every property of every row of the idempotency table, as bytes.</summary>
    private async Task<List<byte[]>> ReadIdempotencyTableAsync()
    {
        var table = new TableClient(fixture.Storage.ConnectionString, fixture.Storage.IdempotencyTable);
        var rows = new List<byte[]>();
        await foreach (var entity in table.QueryAsync<TableEntity>())
        {
            rows.Add([.. ((IDictionary<string, object>)entity).Values.SelectMany(value => value switch
            {
                byte[] bytes => bytes,
                BinaryData data => data.ToArray(),
                _ => Encoding.UTF8.GetBytes(value?.ToString() ?? ""),
            })]);
        }

        return rows;
    }

    private sealed record Answer(HttpStatusCode Status, string Body, string? ContentType, string? Replayed);
}
