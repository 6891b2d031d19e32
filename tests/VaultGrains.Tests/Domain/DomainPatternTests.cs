using VaultGrains.Domain;

namespace VaultGrains.Tests.Domain;

/// <summary>
/// Allowed-domain patterns: what is accepted and how it is normalized, and which destination hosts
/// a list of patterns lets a secret go to. Over-broad wildcards over a single label (<c>*.com</c>,
/// <c>*.localhost</c>) are refused by design; two-label suffixes such as <c>*.co.uk</c> are accepted,
/// since telling them from <c>*.example.com</c> would need the public-suffix list.
/// </summary>
public sealed class DomainPatternTests
{
    private static readonly string Label63 = new('a', 63);
    private static readonly string Label64 = new('a', 64);

    // 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 characters; one more in the last label makes 254.
    private static readonly string Name253 = string.Join('.', new string('a', 63), new string('b', 63), new string('c', 63), new string('d', 61));
    private static readonly string Name254 = string.Join('.', new string('a', 63), new string('b', 63), new string('c', 63), new string('d', 62));

    public static TheoryData<string, string> Accepted => new()
    {
        { "api.example.com", "api.example.com" },
        { "API.Example.COM", "api.example.com" },
        { "api.example.com.", "api.example.com" },
        { "*.example.com", "*.example.com" },
        { "*.EXAMPLE.com.", "*.example.com" },
        { "*.co.uk", "*.co.uk" },
        { "localhost", "localhost" },
        { "Bücher.de", "xn--bcher-kva.de" },
        { "*.Bücher.de", "*.xn--bcher-kva.de" },
        { "xn--bcher-kva.de", "xn--bcher-kva.de" },
        { "XN--BCHER-KVA.DE", "xn--bcher-kva.de" },
        { "faß.de", "xn--fa-hia.de" },
        { "ｅｘａｍｐｌｅ.com", "example.com" },
        { "example。com", "example.com" },
        { "münchen.example.com", "xn--mnchen-3ya.example.com" },
        { "a-b.example.com", "a-b.example.com" },
        { "1.2.3.example.com", "1.2.3.example.com" },
        { "123.example", "123.example" },
        { $"{Label63}.com", $"{Label63}.com" },
        { Name253, Name253 },
        { Name253 + ".", Name253 },
    };

    public static TheoryData<string, string> Refused => new()
    {
        { "", "empty host name" },
        { ".", "empty host name" },
        { "*.", "empty host name" },
        { "*", "a wildcard is only allowed as a leading \"*.\"" },
        { "*.com", "a wildcard needs a domain of at least two labels" },
        { "*.localhost", "a wildcard needs a domain of at least two labels" },
        { "*.com.", "a wildcard needs a domain of at least two labels" },
        { "a.*.b", "a wildcard is only allowed as a leading \"*.\"" },
        { "*.*.example.com", "a wildcard is only allowed as a leading \"*.\"" },
        { "**.example.com", "a wildcard is only allowed as a leading \"*.\"" },
        { "api*.example.com", "a wildcard is only allowed as a leading \"*.\"" },
        { "https://example.com", "only a host name is allowed (no scheme, port, path or user info)" },
        { "example.com:443", "only a host name is allowed (no scheme, port, path or user info)" },
        { "example.com/path", "only a host name is allowed (no scheme, port, path or user info)" },
        { "user@example.com", "only a host name is allowed (no scheme, port, path or user info)" },
        { "example.com?q", "only a host name is allowed (no scheme, port, path or user info)" },
        { "exa mple.com", "only a host name is allowed (no scheme, port, path or user info)" },
        { "[::1]", "only a host name is allowed (no scheme, port, path or user info)" },
        { "::1", "only a host name is allowed (no scheme, port, path or user info)" },
        { "10.0.0.1", "IP addresses are not allowed" },
        { "127.0.0.1.", "IP addresses are not allowed" },
        { "*.10.0.0.1", "IP addresses are not allowed" },
        { "a..example.com", "not a valid host name" },
        { ".example.com", "not a valid host name" },
        { "example.com..", "not a valid host name" },
        { "-api.example.com", "not a valid host name" },
        { "api-.example.com", "not a valid host name" },
        { "under_score.example.com", "not a valid host name" },
        { "xn--zz.example.com", "not a valid host name" },
        { "xn--.example.com", "not a valid host name" },
        { $"{Label64}.com", "not a valid host name" },
        { Name254, "host name longer than 253 characters" },
    };

    [Theory]
    [MemberData(nameof(Accepted))]
    public void Accepted_patterns_are_normalized(string pattern, string normalized)
    {
        Assert.True(DomainPattern.TryNormalize(pattern, out var result, out var error), error);
        Assert.Equal(normalized, result);
    }

    [Theory]
    [MemberData(nameof(Refused))]
    public void Refused_patterns_say_why(string pattern, string reason)
    {
        Assert.False(DomainPattern.TryNormalize(pattern, out _, out var error));
        var echoed = pattern.Length <= 64 ? pattern : pattern[..64] + "…";
        Assert.Equal($"invalid domain pattern \"{echoed}\": {reason}", error);
    }

    [Fact]
    public void The_test_names_have_the_lengths_they_claim()
    {
        Assert.Equal(63, Label63.Length);
        Assert.Equal(253, Name253.Length);
        Assert.Equal(254, Name254.Length);
    }

    [Fact]
    public void Lists_are_normalized_deduplicated_in_first_occurrence_order_and_bounded()
    {
        Assert.True(DomainPattern.TryNormalizeAll(["B.example.com", "*.example.com", "b.example.com.", "Bücher.de", "xn--bcher-kva.de"], out var normalized, out _));
        Assert.Equal(["b.example.com", "*.example.com", "xn--bcher-kva.de"], normalized);

        Assert.True(DomainPattern.TryNormalizeAll(Enumerable.Range(0, 50).Select(i => $"h{i}.example.com").ToArray(), out var fifty, out _));
        Assert.Equal(50, fifty.Count);
        Assert.False(DomainPattern.TryNormalizeAll(Enumerable.Range(0, 51).Select(i => $"h{i}.example.com").ToArray(), out _, out var error));
        Assert.Equal("allowed_domains must have at most 50 entries", error);

        Assert.False(DomainPattern.TryNormalizeAll(["ok.example.com", "*.com"], out _, out error));
        Assert.Equal("invalid domain pattern \"*.com\": a wildcard needs a domain of at least two labels", error);
    }

    public static TheoryData<string, string, bool> Destinations => new()
    {
        // Exact hosts: case, trailing dot and port do not matter.
        { "api.example.com", "api.example.com", true },
        { "api.example.com", "API.EXAMPLE.COM", true },
        { "api.example.com", "api.example.com.", true },
        { "api.example.com", "api.example.com:443", true },
        { "api.example.com", "api.example.com.:8443", true },
        { "api.example.com", " api.example.com ", true },
        { "api.example.com", "example.com", false },
        { "api.example.com", "x.api.example.com", false },
        { "api.example.com", "api.example.com.evil.com", false },
        { "api.example.com", "api.example.co", false },
        { "api.example.com", "api-example.com", false },
        // Wildcards: any depth below, never the apex, never a look-alike.
        { "*.example.com", "api.example.com", true },
        { "*.example.com", "a.b.c.example.com", true },
        { "*.example.com", "API.Example.Com.", true },
        { "*.example.com", "api.example.com:8080", true },
        { "*.example.com", "example.com", false },
        { "*.example.com", "example.com.", false },
        { "*.example.com", "notexample.com", false },
        { "*.example.com", "evilexample.com", false },
        { "*.example.com", "example.com.evil.com", false },
        { "*.example.com", "api.example.com.evil.com", false },
        { "*.example.com", "evil.com", false },
        { "*.example.com", "evil.com.", false },
        { "*.example.com", "example.co", false },
        { "*.example.com", ".example.com", false },
        // Internationalized names compare as punycode, whichever form either side used.
        { "xn--bcher-kva.de", "bücher.de", true },
        { "xn--bcher-kva.de", "BÜCHER.DE", true },
        { "*.xn--bcher-kva.de", "shop.bücher.de", true },
        { "xn--bcher-kva.de", "bucher.de", false },
        // Destinations that are not host names never match a restricted secret.
        { "api.example.com", "", false },
        { "api.example.com", "https://api.example.com", false },
        { "api.example.com", "api.example.com/path", false },
        { "api.example.com", "user@api.example.com", false },
        { "api.example.com", "api.example.com:", false },
        { "api.example.com", "api.example.com:-1", false },
        { "*.example.com", "10.0.0.1", false },
        { "*.example.com", "[::1]:443", false },
        { "*.example.com", "*.example.com", false },
    };

    [Theory]
    [MemberData(nameof(Destinations))]
    public void Destinations_match_as_documented(string pattern, string destination, bool allowed)
    {
        Assert.True(DomainPattern.TryNormalize(pattern, out var normalized, out _));
        Assert.Equal(allowed, DomainPattern.IsAllowed([normalized], destination));
    }

    [Fact]
    public void An_empty_list_allows_any_destination_and_a_list_allows_any_of_its_patterns()
    {
        Assert.True(DomainPattern.IsAllowed([], "anything.example.org"));
        Assert.True(DomainPattern.IsAllowed([], "10.0.0.1"));

        string[] both = ["example.com", "*.example.com"];
        Assert.True(DomainPattern.IsAllowed(both, "example.com"));
        Assert.True(DomainPattern.IsAllowed(both, "api.example.com"));
        Assert.False(DomainPattern.IsAllowed(both, "example.org"));
    }
}
