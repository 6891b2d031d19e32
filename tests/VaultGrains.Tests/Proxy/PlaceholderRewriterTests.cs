using System.Text;
using VaultGrains.Proxy.Release;

namespace VaultGrains.Tests.Proxy;

/// <summary>
/// The release rule on the wire: which placeholder names which secret (the longest env_key, the
/// first vault on a shared key), where a value may go (TLS, allowed port, a name the secret's
/// allowed_domains admit, never an IP literal), and that a value cannot change a request's shape.
/// </summary>
public sealed class PlaceholderRewriterTests
{
    private static readonly ReleaseTarget ApiExample = new("api.example.com", 443, PortAllowed: true, Tls: true);

    private static ReleasableSecret Secret(string envKey, string value, params string[] allowedDomains) =>
        new("vlt_1", $"sec_{envKey}", envKey, allowedDomains, value);

    private static PlaceholderRewriter Rewriter(params ReleasableSecret[] secrets) => new(new RuntimeSecrets("rtm_1", "org_1", secrets));

    public static TheoryData<string, string, bool> HostsAgainstPatterns => new()
    {
        { "example.com", "example.com", true },
        { "example.com", "EXAMPLE.com.", true },
        { "example.com", "api.example.com", false },
        { "example.com", "evilexample.com", false },
        { "example.com", "example.com.evil.test", false },
        { "*.example.com", "api.example.com", true },
        { "*.example.com", "a.b.example.com", true },
        { "*.example.com", "example.com", false },
        { "*.example.com", "evilexample.com", false },
        { "*.example.com", "api.example.com.evil.test", false },
        { "*.example.com", "xexample.com", false },
    };

    [Theory]
    [MemberData(nameof(HostsAgainstPatterns))]
    public void A_value_goes_only_to_a_host_its_allowed_domains_admit(string pattern, string host, bool released)
    {
        var rewriter = Rewriter(Secret("TOKEN", "s3cret-value", pattern));
        var decisions = new List<ReleaseDecision>();
        var header = rewriter.RewriteHeader("X-Api-Key", "CCASECRET_TOKEN", new ReleaseTarget(host, 443, true, true), decisions);

        Assert.Equal(released ? "s3cret-value" : "CCASECRET_TOKEN", header);
        var decision = Assert.Single(decisions);
        Assert.Equal(released, decision.Released);
        Assert.Equal(released ? null : "domain_not_allowed", decision.Reason);
        Assert.Equal("header", decision.Location);
    }

    [Fact]
    public void Apex_and_subdomains_need_both_patterns()
    {
        var rewriter = Rewriter(Secret("TOKEN", "s3cret-value", "example.com", "*.example.com"));
        foreach (var host in new[] { "example.com", "api.example.com" })
        {
            Assert.Equal("s3cret-value", rewriter.RewriteHeader("X", "CCASECRET_TOKEN", new ReleaseTarget(host, 443, true, true), []));
        }

        Assert.Equal("CCASECRET_TOKEN", rewriter.RewriteHeader("X", "CCASECRET_TOKEN", new ReleaseTarget("example.org", 443, true, true), []));
    }

    [Fact]
    public void An_empty_allowed_domains_list_admits_any_named_host()
    {
        var rewriter = Rewriter(Secret("TOKEN", "s3cret-value"));
        Assert.Equal("s3cret-value", rewriter.RewriteHeader("X", "CCASECRET_TOKEN", new ReleaseTarget("anything.example.net", 443, true, true), []));
    }

    public static TheoryData<ReleaseTarget, string> RefusedTargets => new()
    {
        { new ReleaseTarget("api.example.com", 80, PortAllowed: true, Tls: false), "plain_http" },
        { new ReleaseTarget("api.example.com", 8443, PortAllowed: false, Tls: true), "port_not_allowed" },
        { new ReleaseTarget("127.0.0.1", 443, true, true), "ip_literal" },
        { new ReleaseTarget("2130706433", 443, true, true), "ip_literal" },
        { new ReleaseTarget("0x7f000001", 443, true, true), "ip_literal" },
        { new ReleaseTarget("93.184.215.14", 443, true, true), "ip_literal" },
        { new ReleaseTarget("[2606:4700::1111]", 443, true, true), "ip_literal" },
        { new ReleaseTarget("example.123", 443, true, true), "ip_literal" },
    };

    [Theory]
    [MemberData(nameof(RefusedTargets))]
    public void No_release_over_plain_http_to_a_disallowed_port_or_to_an_ip_literal(ReleaseTarget target, string reason)
    {
        // Empty allowed_domains: only the target's own properties can refuse.
        var rewriter = Rewriter(Secret("TOKEN", "s3cret-value"));
        var decisions = new List<ReleaseDecision>();

        Assert.Equal("Bearer CCASECRET_TOKEN", rewriter.RewriteHeader("Authorization", "Bearer CCASECRET_TOKEN", target, decisions));
        Assert.Equal("/v1/CCASECRET_TOKEN?k=CCASECRET_TOKEN", rewriter.RewritePathAndQuery("/v1/CCASECRET_TOKEN?k=CCASECRET_TOKEN", target, decisions));

        Assert.Equal(3, decisions.Count);
        Assert.All(decisions, d => Assert.False(d.Released));
        Assert.All(decisions, d => Assert.Equal(reason, d.Reason));
    }

    [Fact]
    public void The_longest_env_key_wins_and_the_rest_stays_literal()
    {
        var rewriter = Rewriter(Secret("A", "value-of-a"), Secret("AB", "value-of-ab"));
        var decisions = new List<ReleaseDecision>();

        Assert.Equal("value-of-abC value-of-a-x value-of-a", rewriter.RewriteHeader("X", "CCASECRET_ABC CCASECRET_A-x CCASECRET_A", ApiExample, decisions));
        Assert.Equal(new[] { "AB", "A", "A" }, decisions.Select(d => d.Secret.EnvKey));
        Assert.All(decisions, d => Assert.True(d.Released));
    }

    [Fact]
    public void Env_keys_are_case_sensitive_and_unknown_names_are_left_alone_without_a_decision()
    {
        var rewriter = Rewriter(Secret("TOKEN", "s3cret-value"));
        var decisions = new List<ReleaseDecision>();

        Assert.Equal("CCASECRET_token CCASECRET_OTHER ccasecret_TOKEN CCASECRET_", rewriter.RewriteHeader("X", "CCASECRET_token CCASECRET_OTHER ccasecret_TOKEN CCASECRET_", ApiExample, decisions));
        Assert.Empty(decisions);
        Assert.False(rewriter.ContainsPlaceholder("CCASECRET_token CCASECRET_OTHER"));
        Assert.True(rewriter.ContainsPlaceholder("x CCASECRET_OTHER CCASECRET_TOKENS"));
    }

    [Fact]
    public void Adjacent_placeholders_are_each_replaced()
    {
        var rewriter = Rewriter(Secret("A", "first-value"), Secret("B", "second-value"));
        var decisions = new List<ReleaseDecision>();
        Assert.Equal("first-valueCCASECRET_second-value", rewriter.RewriteHeader("X", "CCASECRET_ACCASECRET_CCASECRET_B", ApiExample, decisions));
        Assert.Equal(2, decisions.Count);
    }

    [Fact]
    public void When_two_vaults_share_an_env_key_the_first_listed_wins()
    {
        var first = new ReleasableSecret("vlt_first", "sec_1", "TOKEN", [], "from-first-vault");
        var second = new ReleasableSecret("vlt_second", "sec_2", "TOKEN", [], "from-second-vault");
        var rewriter = Rewriter(first, second);
        var decisions = new List<ReleaseDecision>();

        Assert.Equal("from-first-vault", rewriter.RewriteHeader("X", "CCASECRET_TOKEN", ApiExample, decisions));
        Assert.Same(first, Assert.Single(decisions).Secret);
    }

    [Fact]
    public void Values_in_the_query_are_percent_encoded_so_they_cannot_add_parameters()
    {
        var rewriter = Rewriter(Secret("TOKEN", "a&b=c d/é?#%"));
        var decisions = new List<ReleaseDecision>();

        var target = rewriter.RewritePathAndQuery("/v1/items?key=CCASECRET_TOKEN&x=1", ApiExample, decisions);

        Assert.Equal("/v1/items?key=a%26b%3Dc%20d%2F%C3%A9%3F%23%25&x=1", target);
        var decision = Assert.Single(decisions);
        Assert.Equal("query", decision.Location);
        Assert.True(decision.Released);
    }

    [Fact]
    public void Values_in_the_path_are_percent_encoded_so_they_cannot_add_segments()
    {
        var rewriter = Rewriter(Secret("TOKEN", "../admin?x"));
        var decisions = new List<ReleaseDecision>();

        Assert.Equal("/users/..%2Fadmin%3Fx/profile?q=CCASECRET_OTHER", rewriter.RewritePathAndQuery("/users/CCASECRET_TOKEN/profile?q=CCASECRET_OTHER", ApiExample, decisions));
        Assert.Equal("path", Assert.Single(decisions).Location);
    }

    [Fact]
    public void A_target_without_placeholders_is_returned_as_is()
    {
        var rewriter = Rewriter(Secret("TOKEN", "s3cret-value"));
        const string target = "/v1/items?key=value";
        Assert.Same(target, rewriter.RewritePathAndQuery(target, ApiExample, []));
    }

    [Theory]
    [InlineData("Basic")]
    [InlineData("basic")]
    [InlineData("BASIC")]
    public void Basic_credentials_are_decoded_rewritten_and_encoded_again(string scheme)
    {
        var rewriter = Rewriter(Secret("USER", "alice"), Secret("PASSWORD", "pässword:with colon"));
        var decisions = new List<ReleaseDecision>();
        var header = $"{scheme} {Convert.ToBase64String(Encoding.UTF8.GetBytes("CCASECRET_USER:CCASECRET_PASSWORD"))}";

        var rewritten = rewriter.RewriteHeader("authorization", header, ApiExample, decisions);

        Assert.StartsWith(scheme + " ", rewritten);
        Assert.Equal("alice:pässword:with colon", Encoding.UTF8.GetString(Convert.FromBase64String(rewritten[(scheme.Length + 1)..])));
        Assert.Equal(2, decisions.Count);
        Assert.All(decisions, d => Assert.Equal("authorization", d.Location));
        Assert.All(decisions, d => Assert.True(d.Released));
    }

    [Fact]
    public void Basic_credentials_for_a_disallowed_host_are_left_byte_for_byte()
    {
        var rewriter = Rewriter(Secret("PASSWORD", "s3cret-value", "api.example.com"));
        var decisions = new List<ReleaseDecision>();
        var header = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("bob:CCASECRET_PASSWORD"));

        Assert.Equal(header, rewriter.RewriteHeader("Authorization", header, new ReleaseTarget("other.example.com", 443, true, true), decisions));
        var decision = Assert.Single(decisions);
        Assert.Equal(("authorization", false, "domain_not_allowed"), (decision.Location, decision.Released, decision.Reason));
    }

    [Fact]
    public void A_bearer_authorization_header_is_rewritten_as_plain_text()
    {
        var rewriter = Rewriter(Secret("TOKEN", "s3cret-value"));
        var decisions = new List<ReleaseDecision>();
        Assert.Equal("Bearer s3cret-value", rewriter.RewriteHeader("Authorization", "Bearer CCASECRET_TOKEN", ApiExample, decisions));
        Assert.Equal("header", Assert.Single(decisions).Location);
    }

    [Theory]
    [InlineData("line\r\nX-Injected: 1")]
    [InlineData("line\nbreak")]
    [InlineData("carriage\rreturn")]
    [InlineData("nul\0byte")]
    public void A_value_with_CR_LF_or_NUL_is_never_put_into_a_header(string value)
    {
        var rewriter = Rewriter(Secret("TOKEN", value));
        var decisions = new List<ReleaseDecision>();

        Assert.Equal("Bearer CCASECRET_TOKEN", rewriter.RewriteHeader("Authorization", "Bearer CCASECRET_TOKEN", ApiExample, decisions));
        var basic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("u:CCASECRET_TOKEN"));
        Assert.Equal(basic, rewriter.RewriteHeader("Authorization", basic, ApiExample, decisions));

        Assert.Equal(2, decisions.Count);
        Assert.All(decisions, d => Assert.Equal((false, "invalid_header_value"), (d.Released, d.Reason)));

        // In the request target the same value is percent-encoded, so it is safe there.
        var path = rewriter.RewritePathAndQuery("/x?v=CCASECRET_TOKEN", ApiExample, decisions);
        Assert.Equal("/x?v=" + Uri.EscapeDataString(value), path);
    }

    [Fact]
    public void A_decision_never_shows_the_value_in_its_text()
    {
        var rewriter = Rewriter(Secret("TOKEN", "s3cret-value"));
        var decisions = new List<ReleaseDecision>();
        rewriter.RewriteHeader("X", "CCASECRET_TOKEN", ApiExample, decisions);
        Assert.DoesNotContain("s3cret-value", Assert.Single(decisions).ToString());
    }
}
