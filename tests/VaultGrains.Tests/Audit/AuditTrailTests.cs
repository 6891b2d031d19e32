using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using VaultGrains.Domain;
using VaultGrains.Grains.Audit;
using VaultGrains.Tests.Api;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Api.ApiTestKit;

namespace VaultGrains.Tests.Audit;

/// <summary>The audit trail of API.md: one event per change, who did it, never a value, pages, filters, a chain that shows tampering, and no change without its event.</summary>
public sealed class AuditTrailTests(AuditFixture fixture) : IClassFixture<AuditFixture>
{
    private const string Events = "/api/public/v1/audit-events";

    private HttpClient Admin => fixture.CreateClient(ApiFixture.AdminToken);

    private static async Task<List<JsonElement>> AllEventsAsync(HttpClient client, string query = "")
    {
        var page = await ApiFixture.ReadAsync(await client.GetAsync(Events + query));
        return page.GetProperty("events").EnumerateArray().ToList();
    }

    private static (string Action, string Outcome, int Status, string ActorType) Summary(JsonElement e) =>
        (e.GetProperty("action").GetString()!, e.GetProperty("outcome").GetString()!, e.GetProperty("status").GetInt32(), e.GetProperty("actor").GetProperty("type").GetString()!);

    [Fact]
    public async Task Every_change_and_every_refusal_is_one_event_with_its_actor_resource_outcome_and_status()
    {
        var (organizationId, client, keyId) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        await ApiFixture.ReadAsync(await PatchAsync(client, $"{Vaults}/{vaultId}", """{"name":"Renamed"}"""));
        var secret = await CreateSecretAsync(client, vaultId, "DATABASE_URL", "postgres://audit-canary-value");
        var secretId = secret.GetProperty("id").GetString()!;
        await AssertError(await client.PostAsJsonAsync(Secrets(vaultId), new { env_key = "DATABASE_URL", value = "x" }), HttpStatusCode.BadRequest, "env_key already exists in this vault");
        await ApiFixture.ReadAsync(await PatchAsync(client, Secret(vaultId, secretId), """{"value":"postgres://audit-canary-rotated"}"""));
        var runtime = await ApiFixture.ReadAsync(await client.PostAsJsonAsync("/api/public/v1/runtimes", new { name = "agent", vault_ids = new[] { vaultId } }));
        var runtimeId = runtime.GetProperty("id").GetString()!;
        var rotated = await ApiFixture.ReadAsync(await client.PostAsync($"/api/public/v1/runtimes/{runtimeId}/token", null));
        await ApiFixture.ReadAsync(await PatchAsync(client, $"/api/public/v1/runtimes/{runtimeId}", """{"vault_ids":[]}"""));
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/api/public/v1/runtimes/{runtimeId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync(Secret(vaultId, secretId))).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"{Vaults}/{vaultId}")).StatusCode);
        await AssertError(await client.GetAsync($"{Vaults}/{vaultId}"), HttpStatusCode.NotFound, "vault not found");

        var events = await AllEventsAsync(client);

        Assert.Equal(
            [
                ("vault.delete", "success", 204, "api_key"), ("secret.delete", "success", 204, "api_key"), ("runtime.delete", "success", 204, "api_key"),
                ("runtime.update", "success", 200, "api_key"), ("runtime.token_rotate", "success", 201, "api_key"), ("runtime.create", "success", 201, "api_key"),
                ("secret.update", "success", 200, "api_key"), ("secret.create", "denied", 400, "api_key"), ("secret.create", "success", 201, "api_key"),
                ("vault.update", "success", 200, "api_key"), ("vault.create", "success", 201, "api_key"),
                ("api_key.create", "success", 201, "admin"), ("organization.create", "success", 201, "admin"),
            ],
            events.Select(Summary));
        Assert.All(events.Where(e => Summary(e).ActorType == "api_key"), e => Assert.Equal(keyId, e.GetProperty("actor").GetProperty("id").GetString()));
        Assert.All(events, e => Assert.Equal(organizationId, e.GetProperty("organization_id").GetString()));
        var created = events.Single(e => Summary(e) == ("secret.create", "success", 201, "api_key"));
        Assert.Equal(vaultId, created.GetProperty("resource").GetProperty("vault_id").GetString());
        Assert.Equal(secretId, created.GetProperty("resource").GetProperty("secret_id").GetString());
        Assert.Equal("DATABASE_URL", created.GetProperty("resource").GetProperty("env_key").GetString());
        Assert.Equal(runtimeId, events.Single(e => Summary(e).Action == "runtime.create").GetProperty("resource").GetProperty("runtime_id").GetString());
        Assert.Equal(["id", "time", "organization_id", "actor", "action", "outcome", "status", "resource", "detail", "previous_hash", "hash"], Names(events[0]));

        // No value, token or key anywhere in the trail: neither through the API nor in storage.
        var stored = string.Concat((await fixture.ReadSegmentsAsync(organizationId)).Select(s => s.Text));
        foreach (var canary in new[] { "audit-canary", runtime.GetProperty("token").GetString()!, rotated.GetProperty("token").GetString()!, client.DefaultRequestHeaders.Authorization!.Parameter! })
        {
            Assert.DoesNotContain(canary, stored, StringComparison.Ordinal);
            Assert.DoesNotContain(events, e => e.GetRawText().Contains(canary, StringComparison.Ordinal));
        }

        var verified = await ApiFixture.ReadAsync(await Admin.GetAsync($"/api/admin/v1/organizations/{organizationId}/audit-events/verify"));
        Assert.Equal(13, verified.GetProperty("verified").GetInt32());
        Assert.Equal(JsonValueKind.Null, verified.GetProperty("first_broken").ValueKind);
    }

    [Fact]
    public async Task Pages_follow_next_and_filters_narrow_by_vault_action_and_time()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var first = await ApiFixture.CreateVaultAsync(client, "First");
        var second = await ApiFixture.CreateVaultAsync(client, "Second");
        for (var i = 0; i < 5; i++)
        {
            await CreateSecretAsync(client, i % 2 == 0 ? first : second, $"KEY_{i}");
        }

        var all = await AllEventsAsync(client);
        Assert.Equal(9, all.Count);
        var paged = new List<string>();
        string? next = null;
        do
        {
            var page = await ApiFixture.ReadAsync(await client.GetAsync($"{Events}?limit=2" + (next is null ? "" : $"&before={next}")));
            var events = page.GetProperty("events").EnumerateArray().ToList();
            Assert.InRange(events.Count, 1, 2);
            paged.AddRange(events.Select(e => e.GetProperty("id").GetString()!));
            next = page.GetProperty("next").GetString();
        }
        while (next is not null);

        Assert.Equal(all.Select(e => e.GetProperty("id").GetString()), paged);
        Assert.Equal(3, (await AllEventsAsync(client, $"?vault_id={first}&action=secret.create")).Count);
        Assert.Equal(["vault.create", "secret.create", "secret.create"], (await AllEventsAsync(client, $"?vault_id={second}")).Select(e => e.GetProperty("action").GetString()).Reverse());
        Assert.Equal(2, (await AllEventsAsync(client, "?action=vault.create")).Count);
        var newest = all[0].GetProperty("time").GetString();
        Assert.All(await AllEventsAsync(client, $"?since={newest}"), e => Assert.True(string.CompareOrdinal(e.GetProperty("time").GetString(), newest) >= 0));
        Assert.Empty(await AllEventsAsync(client, "?since=2999-01-01T00:00:00.000Z"));

        await AssertError(await client.GetAsync($"{Events}?limit=0"), HttpStatusCode.BadRequest, "limit must be between 1 and 1000");
        await AssertError(await client.GetAsync($"{Events}?limit=1001"), HttpStatusCode.BadRequest, "limit must be between 1 and 1000");
        await AssertError(await client.GetAsync($"{Events}?before=nope"), HttpStatusCode.BadRequest, "invalid before");
        await AssertError(await client.GetAsync($"{Events}?action=secret.peek"), HttpStatusCode.BadRequest, "invalid action");
        await AssertError(await client.GetAsync($"{Events}?since=yesterday"), HttpStatusCode.BadRequest, "since must be a timestamp (YYYY-MM-DDTHH:MM:SS.fffZ)");

        // Another organization sees none of it; the operator sees it through the admin API.
        var (_, other, _) = await fixture.NewTenantAsync("Other");
        Assert.DoesNotContain(await AllEventsAsync(other), e => e.GetProperty("organization_id").GetString() == organizationId);
        var adminPage = await ApiFixture.ReadAsync(await Admin.GetAsync($"/api/admin/v1/organizations/{organizationId}/audit-events?limit=1000"));
        Assert.Equal(9, adminPage.GetProperty("events").GetArrayLength());
    }

    [Theory]
    [InlineData("edit")]
    [InlineData("remove")]
    [InlineData("reorder")]
    public async Task Verification_finds_an_edited_a_removed_and_a_reordered_event(string tampering)
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        for (var i = 0; i < 4; i++)
        {
            await CreateSecretAsync(client, vaultId, $"KEY_{i}");
        }

        // A read writes what waits (vaults' events reach the chain within Audit:WriteDelay).
        Assert.Equal(7, (await AllEventsAsync(client)).Count);
        var (name, text) = (await fixture.ReadSegmentsAsync(organizationId)).Single();
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        var victim = JsonDocument.Parse(lines[4].Split('\t')[1]).RootElement.GetProperty("id").GetString();
        switch (tampering)
        {
            case "edit":
                lines[4] = lines[4].Replace("KEY_1", "KEY_X", StringComparison.Ordinal);
                break;
            case "remove":
                lines.RemoveAt(3);
                break;
            default:
                (lines[3], lines[4]) = (lines[4], lines[3]);
                break;
        }

        await fixture.OverwriteSegmentAsync(name, string.Join('\n', lines) + "\n");

        var verified = await ApiFixture.ReadAsync(await Admin.GetAsync($"/api/admin/v1/organizations/{organizationId}/audit-events/verify"));
        Assert.Equal(victim, verified.GetProperty("first_broken").GetString());
        Assert.Equal(tampering == "edit" ? 4 : 3, verified.GetProperty("verified").GetInt32());
    }

    [Fact]
    public async Task With_the_trail_down_changes_are_refused_and_reads_go_on_then_it_recovers_without_a_restart()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        await CreateSecretAsync(client, vaultId, "KEPT");

        fixture.AuditStore.Down = true;
        try
        {
            // The first refusal is a change that waits for its own write; from then on the trail
            // knows it is failing, and a vault's change waits for its write too and is refused.
            await AssertError(await client.PostAsJsonAsync("/api/public/v1/runtimes", new { name = "refused" }), HttpStatusCode.ServiceUnavailable, "audit trail unavailable");
            await AssertError(await client.PostAsJsonAsync(Secrets(vaultId), new { env_key = "LOST", value = "never-stored" }), HttpStatusCode.ServiceUnavailable, "audit trail unavailable");
            await AssertError(await client.PostAsJsonAsync(Vaults, new { name = "Refused" }), HttpStatusCode.ServiceUnavailable, "audit trail unavailable");
            await AssertError(await client.PatchAsJsonAsync($"{Secrets(vaultId)}/{await SecretIdAsync(client, vaultId, "KEPT")}", new { value = "never-stored-either" }), HttpStatusCode.ServiceUnavailable, "audit trail unavailable");
            Assert.Equal(["KEPT"], (await ApiFixture.ReadAsync(await client.GetAsync(Secrets(vaultId)))).EnumerateArray().Select(s => s.GetProperty("env_key").GetString()));
            Assert.Single((await ApiFixture.ReadAsync(await client.GetAsync(Vaults))).EnumerateArray());
        }
        finally
        {
            fixture.AuditStore.Down = false;
        }

        var created = await CreateSecretAsync(client, vaultId, "LOST", "stored-now");
        Assert.Equal("LOST", created.GetProperty("env_key").GetString());
        Assert.Equal(["KEPT", "LOST"], (await ApiFixture.ReadAsync(await client.GetAsync(Secrets(vaultId)))).EnumerateArray().Select(s => s.GetProperty("env_key").GetString()));
        var secretCreates = (await AllEventsAsync(client, "?action=secret.create")).Where(e => e.GetProperty("outcome").GetString() == "success").ToList();
        Assert.Equal(["LOST", "KEPT"], secretCreates.Select(e => e.GetProperty("resource").GetProperty("env_key").GetString()));
        Assert.DoesNotContain(await AllEventsAsync(client), e => e.GetProperty("action").GetString() is "runtime.create" or "vault.create" && e.GetProperty("outcome").GetString() == "success" && e.GetProperty("resource").GetProperty("vault_id").GetString() != vaultId);
        await fixture.AssertChainUnbrokenAsync(organizationId);
    }

    [Fact]
    public async Task A_batch_a_busy_vault_writes_while_the_trail_answers_is_kept_through_a_failure_and_written_when_it_recovers()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        await CreateSecretAsync(client, vaultId, "KEPT");
        var trail = fixture.SiloServices.GetRequiredService<IGrainFactory>().GetGrain<IAuditTrailGrain>(organizationId);
        StagedAuditEvent Staged(string envKey) => new(ResourceId.New(ResourceId.Event), new AuditEntry(new AuditActor("api_key", "k"), "secret.create", AuditEntry.Success, 201, new AuditResource(vaultId, EnvKey: envKey), null));

        fixture.AuditStore.Down = true;
        try
        {
            await AssertError(await client.PostAsJsonAsync("/api/public/v1/runtimes", new { name = "refused" }), HttpStatusCode.ServiceUnavailable, "audit trail unavailable");

            // What the trail says to a vault's batch already on its way to the vault's log, and to
            // one that waits for the answer, while it knows it is failing: both hear it at once...
            var meanwhile = trail.Stage(vaultId, [Staged("MEANWHILE")], untilWritten: false, again: false, writtenMeanwhile: true);
            Assert.Same(meanwhile, await Task.WhenAny(meanwhile, Task.Delay(TimeSpan.FromSeconds(2))));
            Assert.Equal(VaultError.AuditUnavailable, await meanwhile);
            Assert.Equal(VaultError.AuditUnavailable, await trail.Stage(vaultId, [Staged("WAITED")], untilWritten: false, again: false, writtenMeanwhile: false));
        }
        finally
        {
            fixture.AuditStore.Down = false;
        }

        // ...but only the first one's events were kept: they are written once the trail can write.
        var creates = await AllEventsAsync(client, "?action=secret.create");
        Assert.Equal(["MEANWHILE", "KEPT"], creates.Select(e => e.GetProperty("resource").GetProperty("env_key").GetString()));
        await fixture.AssertChainUnbrokenAsync(organizationId);
    }

    [Fact]
    public async Task A_change_taken_before_the_trail_failed_keeps_its_event_through_the_loss_of_the_trail_activation()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        await CreateSecretAsync(client, vaultId, "BEFORE");
        Assert.Equal(4, (await AllEventsAsync(client)).Count);

        // The trail takes the event and answers; the change is acknowledged with the event in the
        // vault's own log record. Then the trail's storage goes away before it wrote the event,
        // and its activation (holding the event in memory only) is collected: the event is lost
        // there, and only the vault's log still has it.
        fixture.AuditStore.Down = true;
        string takenId;
        try
        {
            takenId = (await CreateSecretAsync(client, vaultId, "TAKEN")).GetProperty("id").GetString()!;
            await fixture.DeactivateAllAsync();
        }
        finally
        {
            fixture.AuditStore.Down = false;
        }

        // The next activation of the trail finds the vault on its stored list and asks it to deliver.
        var creates = (await AllEventsAsync(client, "?action=secret.create")).ToList();
        Assert.Equal(["TAKEN", "BEFORE"], creates.Select(e => e.GetProperty("resource").GetProperty("env_key").GetString()));
        Assert.Equal(takenId, creates[0].GetProperty("resource").GetProperty("secret_id").GetString());
        Assert.All(creates, e => Assert.Equal("success", e.GetProperty("outcome").GetString()));

        // Delivered again (the vault's next activation, a second ask): still exactly one event each.
        await fixture.DeactivateAllAsync();
        await CreateSecretAsync(client, vaultId, "AFTER");
        var again = await AllEventsAsync(client, "?action=secret.create");
        Assert.Equal(["AFTER", "TAKEN", "BEFORE"], again.Select(e => e.GetProperty("resource").GetProperty("env_key").GetString()));
        var verified = await ApiFixture.ReadAsync(await Admin.GetAsync($"/api/admin/v1/organizations/{organizationId}/audit-events/verify"));
        Assert.Equal(JsonValueKind.Null, verified.GetProperty("first_broken").ValueKind);
        Assert.Equal(6, verified.GetProperty("verified").GetInt32());
    }

    [Fact]
    public async Task An_active_vault_stays_on_the_staging_list_through_the_upkeep_so_its_changes_write_no_list()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        await CreateSecretAsync(client, vaultId, "FIRST");
        var listed = fixture.AuditStore.StagingListWritesOf(organizationId);
        Assert.Equal(1, listed);

        // A change every 4 s for longer than the trail's 30 s upkeep: each one's events are written
        // within a second, so at the upkeep none waits; the vault is listed still, being active.
        for (var i = 0; i < 9; i++)
        {
            await Task.Delay(TimeSpan.FromSeconds(4));
            await CreateSecretAsync(client, vaultId, $"KEY_{i}");
        }

        Assert.Equal(listed, fixture.AuditStore.StagingListWritesOf(organizationId));
        Assert.Equal([vaultId], await fixture.AuditStore.StagingListOf(organizationId));
        Assert.Equal(10, (await AllEventsAsync(client, "?action=secret.create")).Count);
    }

    [Fact]
    public async Task A_trail_that_deactivates_keeps_the_vaults_that_staged_moments_ago_on_its_list_and_cuts_the_rest()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var earlier = await ApiFixture.CreateVaultAsync(client);
        await CreateSecretAsync(client, earlier, "EARLIER");
        await Task.Delay(AuditTrailGrain.ListedAfterDeactivation + TimeSpan.FromMilliseconds(500));
        var recent = await ApiFixture.CreateVaultAsync(client);
        await CreateSecretAsync(client, recent, "JUST_NOW");

        // Everything it took is written before it goes, yet the vault that staged moments ago may
        // still be writing a batch without waiting for an answer: its successor must ask it.
        await fixture.DeactivateAllAsync();

        Assert.Equal([recent], await fixture.AuditStore.StagingListOf(organizationId));
        Assert.Equal(["JUST_NOW", "EARLIER"], (await AllEventsAsync(client, "?action=secret.create")).Select(e => e.GetProperty("resource").GetProperty("env_key").GetString()));
    }

    [Fact]
    public async Task A_read_is_refused_while_a_vault_that_may_hold_lost_events_has_not_delivered_them()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);

        // As above: the trail activation that took TAKEN's event is lost before writing it, and the
        // vault's log is the only place the event is.
        fixture.AuditStore.Down = true;
        try
        {
            await CreateSecretAsync(client, vaultId, "TAKEN");
            await fixture.DeactivateAllAsync();
        }
        finally
        {
            fixture.AuditStore.Down = false;
        }

        // The next activation asks the vault to deliver, and the call fails (its silo would not
        // have been declared dead yet). A read then is refused, not answered without the event,
        // however often it is tried.
        fixture.DeliveryCalls.Closed = true;
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var refused = await client.GetAsync("/api/public/v1/audit-events?action=secret.create");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
                Assert.Equal("{\"error\":\"audit trail unavailable\"}", await refused.Content.ReadAsStringAsync());
            }
        }
        finally
        {
            fixture.DeliveryCalls.Closed = false;
        }

        // Once the vault answers, the next read asks it again at once (not on the 30 s timer).
        var answered = await client.GetAsync("/api/public/v1/audit-events?action=secret.create");
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        var events = (await ApiFixture.ReadAsync(answered)).GetProperty("events").EnumerateArray().ToList();
        Assert.Equal("TAKEN", Assert.Single(events).GetProperty("resource").GetProperty("env_key").GetString());
        await fixture.AssertChainUnbrokenAsync(organizationId);
    }

    [Fact]
    public async Task A_new_trail_activation_reads_its_tail_once_however_many_callers_arrive_together()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        await CreateSecretAsync(client, vaultId, "EARLIER");
        Assert.Single(await AllEventsAsync(client, "?action=secret.create"));
        await fixture.DeactivateAllAsync();

        // The next activation's callers arrive while its first read of the tail is still under
        // way: the recovery's vaults, a read and a create. Two loads finishing out of order put
        // back a tail (and the in-memory copy of the segment that reads serve) without the writes
        // made between them, and reads then missed acknowledged events.
        var reads = fixture.AuditStore.SegmentReadsOf(organizationId);
        fixture.AuditStore.HoldSegmentReads();
        Task<HttpResponseMessage> read, create;
        try
        {
            read = client.GetAsync("/api/public/v1/audit-events");
            await WaitUntilAsync(() => fixture.AuditStore.HeldSegmentReads >= 1);
            create = client.PostAsJsonAsync(Secrets(vaultId), new { env_key = "TOGETHER", value = "v", allowed_domains = new[] { "api.example.com" } });
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            fixture.AuditStore.ReleaseSegmentReads(1);
            Assert.Equal(HttpStatusCode.Created, (await create).StatusCode);
        }
        finally
        {
            fixture.AuditStore.StopHoldingSegmentReads();
        }

        await read;
        Assert.Equal(reads + 1, fixture.AuditStore.SegmentReadsOf(organizationId));
        var creates = await AllEventsAsync(client, "?action=secret.create");
        Assert.Equal(["TOGETHER", "EARLIER"], creates.Select(e => e.GetProperty("resource").GetProperty("env_key").GetString()));
        await fixture.AssertChainUnbrokenAsync(organizationId);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold within 10 s");
            await Task.Delay(20);
        }
    }

    private static async Task<string> SecretIdAsync(HttpClient client, string vaultId, string envKey) =>
        (await ApiFixture.ReadAsync(await client.GetAsync(Secrets(vaultId)))).EnumerateArray()
            .Single(s => s.GetProperty("env_key").GetString() == envKey).GetProperty("id").GetString()!;
}

public sealed class AuditRetentionTests(ShortRetentionAuditFixture fixture) : IClassFixture<ShortRetentionAuditFixture>
{
    [Fact]
    public async Task Whole_segments_past_the_window_are_deleted_and_what_remains_still_verifies()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        for (var i = 0; i < 12; i++)
        {
            await CreateSecretAsync(client, vaultId, $"OLD_{i}");
        }

        var before = await fixture.ReadSegmentsAsync(organizationId);
        Assert.True(before.Count >= 3, $"{before.Count} segment(s): expected several small ones");
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        await CreateSecretAsync(client, vaultId, "NEW");

        var grains = (IGrainFactory)fixture.SiloServices.GetService(typeof(IGrainFactory))!;
        var deleted = await grains.GetGrain<IAuditTrailGrain>(organizationId).ApplyRetention();

        var after = await fixture.ReadSegmentsAsync(organizationId);
        Assert.Equal(before.Count - 1, deleted);
        Assert.Single(after);
        var admin = fixture.CreateClient(ApiFixture.AdminToken);
        var verified = await ApiFixture.ReadAsync(await admin.GetAsync($"/api/admin/v1/organizations/{organizationId}/audit-events/verify"));
        Assert.Equal(JsonValueKind.Null, verified.GetProperty("first_broken").ValueKind);
        Assert.Equal(after.Single().Text.Count(c => c == '\n'), verified.GetProperty("verified").GetInt32());
        var events = (await ApiFixture.ReadAsync(await client.GetAsync("/api/public/v1/audit-events?limit=1000"))).GetProperty("events");
        Assert.Contains(events.EnumerateArray(), e => e.GetProperty("resource").TryGetProperty("env_key", out var key) && key.GetString() == "NEW");
        Assert.DoesNotContain(events.EnumerateArray(), e => e.GetProperty("resource").TryGetProperty("env_key", out var key) && key.GetString() == "OLD_0");
    }
}

public sealed class AuditRedeliveryTests(SmallSegmentAuditFixture fixture) : IClassFixture<SmallSegmentAuditFixture>
{
    [Fact]
    public async Task A_quiet_vault_asking_after_several_segments_filled_is_answered_without_reading_storage()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var quiet = await ApiFixture.CreateVaultAsync(client);
        await CreateSecretAsync(client, quiet, "QUIET");
        var busy = await ApiFixture.CreateVaultAsync(client);
        for (var i = 0; i < 12; i++)
        {
            await CreateSecretAsync(client, busy, $"FILLER_{i}");
        }

        // QUIET's event is older than the two segments appended to since: a trail that remembered
        // ids by segment had forgotten it, and read every segment of the last minute to answer.
        var segments = await fixture.ReadSegmentsAsync(organizationId);
        Assert.True(segments.Count >= 4, $"{segments.Count} segment(s): expected several small ones");
        Assert.Contains("\"QUIET\"", string.Concat(segments.SkipLast(2).Select(s => s.Text)), StringComparison.Ordinal);
        var reads = fixture.AuditStore.SegmentReadsOf(organizationId);

        var grains = fixture.SiloServices.GetRequiredService<IGrainFactory>();
        Assert.Equal(VaultError.None, await grains.GetGrain<IVaultGrain>(quiet).DeliverAuditEvents());
        Assert.Equal(reads, fixture.AuditStore.SegmentReadsOf(organizationId));
        var stored = string.Concat((await fixture.ReadSegmentsAsync(organizationId)).Select(s => s.Text));
        Assert.Equal(1, stored.Split("\"env_key\":\"QUIET\"").Length - 1);
    }

    [Fact]
    public async Task Events_a_vault_sends_again_long_after_are_found_in_older_segments_and_not_chained_twice()
    {
        var (organizationId, client, _) = await fixture.NewTenantAsync();
        var quiet = await ApiFixture.CreateVaultAsync(client);
        await CreateSecretAsync(client, quiet, "ONCE");

        // The vault is collected before a later record could note that the trail confirmed ONCE's
        // event: its log still owes it, and its next activation sends it again.
        await fixture.DeactivateAllAsync();
        var busy = await ApiFixture.CreateVaultAsync(client);
        for (var i = 0; i < 12; i++)
        {
            await CreateSecretAsync(client, busy, $"FILLER_{i}");
        }

        var segments = await fixture.ReadSegmentsAsync(organizationId);
        Assert.True(segments.Count >= 3, $"{segments.Count} segment(s): expected several small ones");
        Assert.DoesNotContain("\"ONCE\"", segments[^1].Text, StringComparison.Ordinal);

        await fixture.DeactivateAllAsync();
        Assert.Single((await ApiFixture.ReadAsync(await client.GetAsync(Secrets(quiet)))).EnumerateArray());
        var grains = fixture.SiloServices.GetRequiredService<IGrainFactory>();
        Assert.Equal(VaultError.None, await grains.GetGrain<IVaultGrain>(quiet).DeliverAuditEvents());

        var page = await ApiFixture.ReadAsync(await client.GetAsync($"/api/public/v1/audit-events?action=secret.create&vault_id={quiet}"));
        Assert.Single(page.GetProperty("events").EnumerateArray());
        var stored = string.Concat((await fixture.ReadSegmentsAsync(organizationId)).Select(s => s.Text));
        Assert.Equal(1, stored.Split("\"env_key\":\"ONCE\"").Length - 1);
        await fixture.AssertChainUnbrokenAsync(organizationId);
    }
}
