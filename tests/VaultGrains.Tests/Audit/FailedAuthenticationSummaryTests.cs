using Microsoft.Extensions.Options;
using VaultGrains.Hosting.Audit;

namespace VaultGrains.Tests.Audit;

/// <summary>The counting behind the <c>auth.failed</c> summaries, without a cluster: bounds, folding, putting back, and the event it makes.</summary>
public sealed class FailedAuthenticationSummaryTests
{
    private static readonly DateTime Start = new(2026, 4, 25, 11, 45, 0, DateTimeKind.Utc);

    private static FailedAuthenticationSummaries Summaries(int maxAddresses = 1000, TimeProvider? clock = null) =>
        new(Options.Create(new FailedAuthenticationAuditOptions { FailedAuthenticationMaxAddresses = maxAddresses }), clock ?? new FixedClock(Start));

    [Fact]
    public void Addresses_beyond_the_limit_are_folded_into_one_summary_per_credential_that_counts_them()
    {
        var summaries = Summaries(maxAddresses: 2);
        foreach (var address in new[] { "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.3", "192.0.2.1" })
        {
            summaries.Record(address, FailedCredential.ApiKey, FailureReason.Unknown);
        }

        summaries.Record("192.0.2.5", FailedCredential.Admin, FailureReason.WrongToken);

        var drained = summaries.Drain().ToDictionary(s => (s.Key.Address, s.Key.Credential));
        Assert.Equal(2, drained[("192.0.2.1", FailedCredential.ApiKey)].Failures);
        Assert.Equal(1, drained[("192.0.2.2", FailedCredential.ApiKey)].Failures);
        Assert.Equal((3L, 2), (drained[("other", FailedCredential.ApiKey)].Failures, drained[("other", FailedCredential.ApiKey)].Addresses));
        Assert.Equal((1L, 1), (drained[("other", FailedCredential.Admin)].Failures, drained[("other", FailedCredential.Admin)].Addresses));
        Assert.Equal(4, drained.Count);

        var entry = FailedAuthenticationSummaryWriter.ToEntry(drained[("other", FailedCredential.ApiKey)], Start.AddSeconds(60));
        Assert.Equal(new AuditActor(AuditActor.Address, "other"), entry.Actor);
        Assert.Equal("2", entry.Detail!["addresses"]);
        Assert.Empty(summaries.Drain());
    }

    [Fact]
    public void An_address_holds_a_bounded_number_of_attributed_summaries_and_counts_the_rest_unattributed()
    {
        var summaries = Summaries();
        for (var i = 0; i < FailedAuthenticationSummaries.MaxAttributedPerAddress + 3; i++)
        {
            summaries.Record("192.0.2.1", FailedCredential.ApiKey, FailureReason.Revoked, organizationId: $"org_{i}", resourceId: $"key_{i}");
        }

        summaries.RecordRefusedRuntimeToken("192.0.2.1", "rtm_01KQ27AQH800XQTQPJZ0DH14SJ");

        var drained = summaries.Drain();
        Assert.Equal(FailedAuthenticationSummaries.MaxAttributedPerAddress, drained.Count(s => s.Key.OrganizationId is not null));
        var rest = Assert.Single(drained, s => s.Key is { OrganizationId: null, Credential: FailedCredential.ApiKey });
        Assert.Equal((3L, (string?)null), (rest.Reasons[(int)FailureReason.Revoked], rest.Key.ResourceId));

        // A refused runtime token whose runtime id had to be folded away is never looked up: it says so.
        var runtime = Assert.Single(drained, s => s.Key.Credential == FailedCredential.RuntimeToken);
        Assert.Equal((1L, 0L, (string?)null), (runtime.Reasons[(int)FailureReason.NotLookedUp], runtime.Reasons[(int)FailureReason.Unknown], runtime.Key.ResourceId));
    }

    [Fact]
    public void Summaries_put_back_are_written_with_the_next_window_and_the_event_reports_every_count()
    {
        var clock = new FixedClock(Start);
        var summaries = Summaries(clock: clock);
        summaries.Record("2001:db8::/64", FailedCredential.ApiKey, FailureReason.Missing);
        clock.Now = Start.AddSeconds(10);
        summaries.Record("2001:db8::/64", FailedCredential.ApiKey, FailureReason.Unknown, rateLimited: true);
        clock.Now = Start.AddSeconds(60);
        var failed = summaries.Drain();

        clock.Now = Start.AddSeconds(70);
        summaries.Record("2001:db8::/64", FailedCredential.ApiKey, FailureReason.NotLookedUp, rateLimited: true);
        summaries.Restore(failed);
        clock.Now = Start.AddSeconds(120);
        var summary = Assert.Single(summaries.Drain());

        var entry = FailedAuthenticationSummaryWriter.ToEntry(summary, clock.Now);
        Assert.Equal(("auth.failed", AuditEntry.Denied, 401), (entry.Action, entry.Outcome, entry.Status));
        Assert.Equal(new AuditResource(), entry.Resource);
        Assert.Equal(
            new Dictionary<string, string>
            {
                ["credential"] = "api_key",
                ["failures"] = "3",
                ["rate_limited"] = "2",
                ["first"] = "2026-04-25T11:45:00.000Z",
                ["last"] = "2026-04-25T11:46:10.000Z",
                ["reasons"] = "missing:1,unknown:1,not_looked_up:1",
                ["window_seconds"] = "120",
            },
            entry.Detail);
    }

    [Fact]
    public void A_runtime_token_summary_is_a_407_about_its_runtime()
    {
        var summaries = Summaries();
        summaries.Record("192.0.2.9", FailedCredential.RuntimeToken, FailureReason.WrongToken, organizationId: "org_01KQ27AQH800XQTQPJZ0DH14SJ", resourceId: "rtm_01KQ27AQH800XQTQPJZ0DH14SJ");
        var entry = FailedAuthenticationSummaryWriter.ToEntry(Assert.Single(summaries.Drain()), Start);
        Assert.Equal((407, "rtm_01KQ27AQH800XQTQPJZ0DH14SJ", (string?)null), (entry.Status, entry.Resource.RuntimeId, entry.Resource.KeyId));
        Assert.Equal(("runtime_token", "wrong_token:1", "1"), (entry.Detail!["credential"], entry.Detail["reasons"], entry.Detail["window_seconds"]));
    }

    [Theory]
    [InlineData("00:00:00.5", 1000, "Audit:FailedAuthenticationSummaryInterval")]
    [InlineData("01:00:01", 1000, "Audit:FailedAuthenticationSummaryInterval")]
    [InlineData("00:01:00", 0, "Audit:FailedAuthenticationMaxAddresses")]
    public void A_bad_setting_is_refused_naming_its_key(string interval, int maxAddresses, string key)
    {
        var validator = new FailedAuthenticationAuditOptionsValidator();
        var result = validator.Validate(null, new FailedAuthenticationAuditOptions
        {
            FailedAuthenticationSummaryInterval = TimeSpan.Parse(interval, System.Globalization.CultureInfo.InvariantCulture),
            FailedAuthenticationMaxAddresses = maxAddresses,
        });
        Assert.True(result.Failed);
        Assert.Contains(key, result.FailureMessage, StringComparison.Ordinal);
        Assert.True(validator.Validate(null, new FailedAuthenticationAuditOptions()).Succeeded);
    }

    private sealed class FixedClock(DateTime now) : TimeProvider
    {
        public DateTime Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => new(Now);
    }
}
