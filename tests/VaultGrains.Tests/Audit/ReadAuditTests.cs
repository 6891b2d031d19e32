using System.Net;
using System.Text.Json;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Audit;

/// <summary><c>Audit:Reads</c>: every read is one event, refused reads are denied events, and a read is never served unrecorded.</summary>
public sealed class ReadAuditTests(ReadAuditFixture fixture) : IClassFixture<ReadAuditFixture>
{
    private static async Task<List<JsonElement>> EventsAsync(HttpClient client, string action)
    {
        // Read straight from the trail's query, then drop the audit.list event this query itself adds.
        var page = await ApiFixture.ReadAsync(await client.GetAsync($"/api/public/v1/audit-events?action={action}"));
        return page.GetProperty("events").EnumerateArray().ToList();
    }

    [Fact]
    public async Task Each_read_is_one_event_with_its_actor_resource_and_status()
    {
        var (_, client, keyId) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        var secretId = (await CreateSecretAsync(client, vaultId, "READ_ME")).GetProperty("id").GetString()!;
        var (_, stranger, _) = await fixture.NewTenantAsync();

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(Vaults)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{Vaults}/{vaultId}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(Secrets(vaultId))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"{Secrets(vaultId)}/{secretId}")).StatusCode);
        await AssertError(await stranger.GetAsync($"{Vaults}/{vaultId}"), HttpStatusCode.NotFound, "vault not found");

        var vaultReads = await EventsAsync(client, "vault.read");
        var read = Assert.Single(vaultReads);
        Assert.Equal(("success", 200, "api_key", keyId, vaultId),
            (read.GetProperty("outcome").GetString(), read.GetProperty("status").GetInt32(), read.GetProperty("actor").GetProperty("type").GetString(),
             read.GetProperty("actor").GetProperty("id").GetString(), read.GetProperty("resource").GetProperty("vault_id").GetString()));
        Assert.Single(await EventsAsync(client, "vault.list"));
        Assert.Single(await EventsAsync(client, "secret.list"));
        var secretRead = Assert.Single(await EventsAsync(client, "secret.read"));
        Assert.Equal(secretId, secretRead.GetProperty("resource").GetProperty("secret_id").GetString());

        // The stranger's probe is in the stranger's trail (the caller's organization), refused.
        var probe = Assert.Single(await EventsAsync(stranger, "vault.read"));
        Assert.Equal(("denied", 404), (probe.GetProperty("outcome").GetString(), probe.GetProperty("status").GetInt32()));
        Assert.DoesNotContain(await EventsAsync(client, "vault.read"), e => e.GetProperty("status").GetInt32() == 404);

        // Queries of the trail are reads too: the three above are there.
        Assert.True((await EventsAsync(client, "audit.list")).Count >= 4);
    }

    [Fact]
    public async Task The_operators_reads_of_the_system_trail_are_recorded_in_the_system_trail()
    {
        var admin = fixture.CreateClient(ApiFixture.AdminToken);
        await ApiFixture.ReadAsync(await admin.GetAsync("/api/admin/v1/audit-events/verify"));
        var page = await ApiFixture.ReadAsync(await admin.GetAsync("/api/admin/v1/audit-events?limit=1000"));

        var events = page.GetProperty("events").EnumerateArray().ToList();
        Assert.Contains(events, e => e.GetProperty("action").GetString() == "audit.verify");
        Assert.All(events, e => Assert.Equal(JsonValueKind.Null, e.GetProperty("organization_id").ValueKind));
        var listed = await ApiFixture.ReadAsync(await admin.GetAsync("/api/admin/v1/audit-events?action=audit.list"));
        var read = listed.GetProperty("events").EnumerateArray().First();
        Assert.Equal(("admin", "success", 200), (read.GetProperty("actor").GetProperty("type").GetString(), read.GetProperty("outcome").GetString(), read.GetProperty("status").GetInt32()));
    }

    [Fact]
    public async Task With_the_trail_down_reads_are_refused_not_served_unrecorded_then_served_again()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        await CreateSecretAsync(client, vaultId, "GUARDED");

        fixture.AuditStore.Down = true;
        try
        {
            var refused = await client.GetAsync(Secrets(vaultId));
            await AssertError(refused, HttpStatusCode.ServiceUnavailable, "audit trail unavailable");
            await AssertError(await client.GetAsync($"{Vaults}/{vaultId}"), HttpStatusCode.ServiceUnavailable, "audit trail unavailable");
        }
        finally
        {
            fixture.AuditStore.Down = false;
        }

        var listed = await ApiFixture.ReadAsync(await client.GetAsync(Secrets(vaultId)));
        Assert.Equal(["GUARDED"], listed.EnumerateArray().Select(s => s.GetProperty("env_key").GetString()));
        Assert.Single(await EventsAsync(client, "secret.list"));
    }
}
