using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using VaultGrains.Tests.Infrastructure;
using Xunit.Abstractions;

namespace VaultGrains.Tests.Grains;

/// <summary>
/// Issue 11: a holder of a stolen key keeps vault creates in flight, each waiting on a slow Key Vault;
/// the operator's revocation must not queue behind them.
/// </summary>
[Collection(nameof(KeyVaultCollection))]
public sealed class RevocationUnderLoadTests(KeyVaultApiFixture fixture, ITestOutputHelper output) : IDisposable
{
    public void Dispose() => fixture.StandIn.Delay = TimeSpan.Zero;

    [Fact]
    public async Task A_revocation_under_64_vault_creates_waiting_on_Key_Vault_answers_at_once_and_the_key_is_refused_within_a_second()
    {
        var (organizationId, stolen, keyId) = await fixture.NewTenantAsync("Victim");
        var admin = fixture.CreateClient(ApiFixture.AdminToken);
        Assert.Equal(HttpStatusCode.OK, (await stolen.GetAsync("/api/public/v1/vaults")).StatusCode);

        fixture.StandIn.Delay = TimeSpan.FromSeconds(2);
        var wrapsBefore = fixture.StandIn.RequestCount;
        var creates = Enumerable.Range(0, 64).Select(i => stolen.PostAsJsonAsync("/api/public/v1/vaults", new { name = $"flood {i}" })).ToArray();
        var waiting = Stopwatch.StartNew();
        while (fixture.StandIn.RequestCount - wrapsBefore < 64 && waiting.Elapsed < TimeSpan.FromSeconds(1.5))
        {
            await Task.Delay(10);
        }

        Assert.True(fixture.StandIn.RequestCount - wrapsBefore >= 32, $"only {fixture.StandIn.RequestCount - wrapsBefore} creates reached Key Vault");

        var watch = Stopwatch.StartNew();
        var revoke = await admin.DeleteAsync($"/api/admin/v1/organizations/{organizationId}/api-keys/{keyId}");
        var answeredIn = watch.Elapsed;
        var pendingAtRevoke = creates.Count(c => !c.IsCompleted);
        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        Assert.True(answeredIn < TimeSpan.FromSeconds(1), $"revocation answered after {answeredIn.TotalMilliseconds} ms");
        Assert.True(pendingAtRevoke > 0, "the creates were no longer in flight: the test proved nothing");

        while ((await stolen.GetAsync("/api/public/v1/vaults")).StatusCode != HttpStatusCode.Unauthorized)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"the key still worked {watch.ElapsedMilliseconds} ms after the revocation was sent");
            await Task.Delay(20);
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"refused only after {watch.ElapsedMilliseconds} ms");
        output.WriteLine($"revocation answered 204 in {answeredIn.TotalMilliseconds:F0} ms with {pendingAtRevoke} creates in flight; key refused {watch.ElapsedMilliseconds} ms after the DELETE was sent");

        // When Key Vault has answered, the listing shows exactly the vaults whose create succeeded.
        var answers = await Task.WhenAll(creates);
        var created = new List<string>();
        foreach (var answer in answers)
        {
            if (answer.StatusCode == HttpStatusCode.Created)
            {
                created.Add((await ApiFixture.ReadAsync(answer)).GetProperty("id").GetString()!);
            }
        }

        fixture.StandIn.Delay = TimeSpan.Zero;
        var key = await ApiFixture.ReadAsync(await admin.PostAsJsonAsync($"/api/admin/v1/organizations/{organizationId}/api-keys", new { name = "after" }));
        var owner = fixture.CreateClient(key.GetProperty("key").GetString());
        var listed = (await ApiFixture.ReadAsync(await owner.GetAsync("/api/public/v1/vaults"))).EnumerateArray().Select(v => v.GetProperty("id").GetString()!).ToList();
        Assert.Equal(created.Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));
        Assert.DoesNotContain(keyId, (await ApiFixture.ReadAsync(await admin.GetAsync($"/api/admin/v1/organizations/{organizationId}/api-keys"))).EnumerateArray().Select(k => k.GetProperty("id").GetString()));
    }
}
