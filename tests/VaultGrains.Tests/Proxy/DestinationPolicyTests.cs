using System.Net;
using VaultGrains.Proxy.Destinations;

namespace VaultGrains.Tests.Proxy;

/// <summary>
/// Which destinations a tunnel may reach: every special-purpose range is refused (also when hidden
/// in an IPv6 form that carries an IPv4 address), numeric hosts are read the way inet_aton reads
/// them, and names from the operator's fixed map are checked like DNS answers.
/// </summary>
public sealed class DestinationPolicyTests
{
    public static TheoryData<string> NonPublicAddresses => new()
    {
        "0.0.0.0", "0.255.1.2",
        "10.0.0.1", "10.255.255.255",
        "100.64.0.1", "100.127.255.254",
        "127.0.0.1", "127.255.0.1",
        "169.254.0.1", "169.254.169.254",
        "172.16.0.1", "172.31.255.255",
        "192.0.0.8", "192.0.2.10",
        "192.88.99.1",
        "192.168.1.1",
        "198.18.0.1", "198.19.255.255",
        "198.51.100.7", "203.0.113.9",
        "224.0.0.1", "239.255.255.250",
        "240.0.0.1", "255.255.255.255",
        "::", "::1",
        "fc00::1", "fd12:3456::1",
        "fe80::1", "febf::1",
        "fec0::1",
        "ff02::1",
        "2001:db8::1",
        "100::1",
        "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "2001:10::1", "2001:1f::1",
        "64:ff9b:1::1",
        "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254",
        "::127.0.0.1", "::10.0.0.1",
        "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::1", "2002:c0a8:101::1",
    };

    public static TheoryData<string> PublicAddresses => new()
    {
        "1.1.1.1", "8.8.8.8", "93.184.215.14", "100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1",
        "192.0.1.1", "192.169.0.1", "198.17.255.255", "198.20.0.1", "223.255.255.255",
        "2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001::200e",
        "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
    };

    [Theory]
    [MemberData(nameof(NonPublicAddresses))]
    public void Special_purpose_addresses_are_not_public(string text) =>
        Assert.False(DestinationPolicy.IsPublic(IPAddress.Parse(text)), text);

    [Theory]
    [MemberData(nameof(PublicAddresses))]
    public void Global_addresses_are_public(string text) =>
        Assert.True(DestinationPolicy.IsPublic(IPAddress.Parse(text)), text);

    [Fact]
    public void A_scoped_IPv6_address_is_not_public()
    {
        var scoped = IPAddress.Parse("2606:4700:4700::1111");
        scoped.ScopeId = 3;
        Assert.False(DestinationPolicy.IsPublic(scoped));
        Assert.False(DestinationPolicy.IsPublic(IPAddress.Parse("fe80::1%2")));
    }

    public static TheoryData<string, string> IpLiterals => new()
    {
        { "127.0.0.1", "127.0.0.1" },
        { "127.0.0.1.", "127.0.0.1" },
        { "2130706433", "127.0.0.1" },
        { "0x7f000001", "127.0.0.1" },
        { "0X7F000001", "127.0.0.1" },
        { "0x7f.1", "127.0.0.1" },
        { "127.1", "127.0.0.1" },
        { "127.0.1", "127.0.0.1" },
        { "0177.0.0.1", "127.0.0.1" },
        { "0x7f.0.0.0x1", "127.0.0.1" },
        { "017700000001", "127.0.0.1" },
        { "169.254.43518", "169.254.169.254" },
        { "0", "0.0.0.0" },
        { "8.8.8.8", "8.8.8.8" },
        { "[::1]", "::1" },
        { "::1", "::1" },
        { "[2001:db8::1]", "2001:db8::1" },
        { "[::ffff:127.0.0.1]", "::ffff:127.0.0.1" },
        { "[fe80::1%252]", "fe80::1%2" },
    };

    [Theory]
    [MemberData(nameof(IpLiterals))]
    public void Ip_literals_are_read_as_a_resolver_reads_them(string host, string expected)
    {
        Assert.True(DestinationPolicy.IsIpLiteral(host), host);
        Assert.True(DestinationPolicy.TryParseIpLiteral(host, out var address), host);
        Assert.Equal(IPAddress.Parse(expected), address);
    }

    [Theory]
    [InlineData("1.2.3.4.5")]
    [InlineData("256.0.0.1")]
    [InlineData("08.0.0.1")]
    [InlineData("4294967296")]
    [InlineData("example.123")]
    [InlineData("example.0x1f")]
    [InlineData("foo.0x")]
    [InlineData("[example.com]")]
    [InlineData("[::1")]
    public void Numeric_hosts_that_are_no_valid_address_still_count_as_ip_literals(string host)
    {
        Assert.True(DestinationPolicy.IsIpLiteral(host), host);
        Assert.False(DestinationPolicy.TryParseIpLiteral(host, out _), host);
    }

    [Theory]
    [InlineData("example.com")]
    [InlineData("api.example.com.")]
    [InlineData("1.2.3.example.com")]
    [InlineData("123.example")]
    [InlineData("0x7f.example")]
    [InlineData("example.0xg")]
    [InlineData("localhost")]
    public void Names_are_not_ip_literals(string host)
    {
        Assert.False(DestinationPolicy.IsIpLiteral(host), host);
        Assert.False(DestinationPolicy.TryParseIpLiteral(host, out _), host);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("2130706433")]
    [InlineData("0x7f000001")]
    [InlineData("0x7f.1")]
    [InlineData("127.1")]
    [InlineData("0177.0.0.1")]
    [InlineData("127.0.0.1.")]
    [InlineData("[::1]")]
    [InlineData("[::ffff:7f00:1]")]
    [InlineData("169.254.169.254")]
    public async Task Numeric_loopback_and_metadata_hosts_are_refused_without_resolving(string host)
    {
        var resolver = new RecordingResolver();
        var decision = await Policy(resolver).CheckAsync(host, 443, CancellationToken.None);
        Assert.False(decision.Allowed);
        Assert.Equal(DestinationDecision.NotPublic, decision.Refusal);
        Assert.Empty(decision.Addresses);
        Assert.Empty(resolver.Asked);
    }

    [Fact]
    public async Task A_public_ip_literal_is_allowed_and_its_address_returned()
    {
        var decision = await Policy(new RecordingResolver()).CheckAsync("8.8.8.8", 443, CancellationToken.None);
        Assert.True(decision.Allowed);
        Assert.Null(decision.Refusal);
        Assert.Equal(new[] { IPAddress.Parse("8.8.8.8") }, decision.Addresses);
    }

    [Fact]
    public async Task A_name_is_allowed_when_every_answer_is_public()
    {
        var resolver = new RecordingResolver { ["api.example.com"] = ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"] };
        var decision = await Policy(resolver).CheckAsync("API.Example.com.", 443, CancellationToken.None);
        Assert.True(decision.Allowed);
        Assert.Equal(2, decision.Addresses.Count);
        Assert.Equal(new[] { "api.example.com" }, resolver.Asked);
    }

    [Fact]
    public async Task One_private_answer_beside_public_ones_refuses_the_name()
    {
        var resolver = new RecordingResolver { ["rebind.example.com"] = ["93.184.215.14", "10.0.0.5"] };
        var decision = await Policy(resolver).CheckAsync("rebind.example.com", 443, CancellationToken.None);
        Assert.False(decision.Allowed);
        Assert.Equal(DestinationDecision.NotPublic, decision.Refusal);
    }

    [Fact]
    public async Task A_name_without_answers_is_unresolved()
    {
        var decision = await Policy(new RecordingResolver()).CheckAsync("nowhere.example.com", 443, CancellationToken.None);
        Assert.False(decision.Allowed);
        Assert.Equal(DestinationDecision.Unresolved, decision.Refusal);
    }

    [Fact]
    public async Task A_numeric_host_that_is_no_address_is_unresolved_and_never_looked_up()
    {
        var resolver = new RecordingResolver { ["1.2.3.4.5"] = ["8.8.8.8"] };
        var decision = await Policy(resolver).CheckAsync("1.2.3.4.5", 443, CancellationToken.None);
        Assert.Equal(DestinationDecision.Unresolved, decision.Refusal);
        Assert.Empty(resolver.Asked);
    }

    [Theory]
    [InlineData(80)]
    [InlineData(22)]
    [InlineData(8443)]
    public async Task Ports_other_than_the_allowed_ones_are_refused_before_resolving(int port)
    {
        var resolver = new RecordingResolver { ["api.example.com"] = ["93.184.215.14"] };
        var decision = await Policy(resolver).CheckAsync("api.example.com", port, CancellationToken.None);
        Assert.Equal(DestinationDecision.PortNotAllowed, decision.Refusal);
        Assert.Empty(resolver.Asked);
    }

    [Fact]
    public async Task Plain_http_may_use_port_80_but_still_only_public_addresses()
    {
        var resolver = new RecordingResolver { ["api.example.com"] = ["93.184.215.14"], ["intranet.example.com"] = ["10.1.2.3"] };
        var policy = Policy(resolver);

        Assert.True((await policy.CheckPlainHttpAsync("api.example.com", 80, CancellationToken.None)).Allowed);
        Assert.Equal(DestinationDecision.PortNotAllowed, (await policy.CheckPlainHttpAsync("api.example.com", 8080, CancellationToken.None)).Refusal);
        Assert.Equal(DestinationDecision.NotPublic, (await policy.CheckPlainHttpAsync("intranet.example.com", 80, CancellationToken.None)).Refusal);
        Assert.Equal(DestinationDecision.PortNotAllowed, (await policy.CheckAsync("api.example.com", 80, CancellationToken.None)).Refusal);
    }

    [Fact]
    public async Task An_operator_allowed_port_is_accepted()
    {
        Assert.True(DestinationOptions.TryParsePorts("443,8443", out var ports, out _));
        var resolver = new RecordingResolver { ["api.example.com"] = ["93.184.215.14"] };
        var policy = new DestinationPolicy(new DestinationOptions { AllowedPorts = ports }, resolver);
        Assert.True((await policy.CheckAsync("api.example.com", 8443, CancellationToken.None)).Allowed);
        Assert.False((await policy.CheckAsync("api.example.com", 8080, CancellationToken.None)).Allowed);
    }

    [Fact]
    public async Task Fixed_answers_come_before_the_resolver_and_are_checked_like_dns()
    {
        Assert.True(DestinationOptions.TryParseResolve("api.example.test=127.0.0.1,public.example.test=8.8.8.8", out var map, out _));
        var resolver = new RecordingResolver { ["api.example.test"] = ["8.8.4.4"] };

        var strict = new DestinationPolicy(new DestinationOptions { Resolve = map }, resolver);
        Assert.Equal(DestinationDecision.NotPublic, (await strict.CheckAsync("api.example.test", 443, CancellationToken.None)).Refusal);
        var allowed = await strict.CheckAsync("Public.Example.Test.", 443, CancellationToken.None);
        Assert.Equal(new[] { IPAddress.Parse("8.8.8.8") }, allowed.Addresses);

        var development = new DestinationPolicy(new DestinationOptions { Resolve = map, AllowPrivate = true }, resolver);
        var decision = await development.CheckAsync("api.example.test", 443, CancellationToken.None);
        Assert.True(decision.Allowed);
        Assert.Equal(new[] { IPAddress.Loopback }, decision.Addresses);
        Assert.Empty(resolver.Asked);
    }

    [Fact]
    public void Resolve_text_gives_several_addresses_to_a_repeated_name()
    {
        Assert.True(DestinationOptions.TryParseResolve(" API.example.test.=127.0.0.1 , api.example.test=::1,other.test=[::2],", out var map, out var error), error);
        Assert.Equal(new[] { IPAddress.Loopback, IPAddress.IPv6Loopback }, map["api.example.test"]);
        Assert.Equal(new[] { IPAddress.Parse("::2") }, map["other.test"]);
        Assert.Equal(2, map.Count);
        Assert.True(DestinationOptions.TryParseResolve(null, out var empty, out _));
        Assert.Empty(empty);
    }

    [Theory]
    [InlineData("api.example.test")]
    [InlineData("=127.0.0.1")]
    [InlineData("api.example.test=")]
    [InlineData("api.example.test=not-an-address")]
    [InlineData("127.0.0.1=10.0.0.1")]
    [InlineData("api.example.test:443=127.0.0.1")]
    public void Resolve_text_that_is_not_name_equals_address_is_refused(string text)
    {
        Assert.False(DestinationOptions.TryParseResolve(text, out _, out var error));
        Assert.NotNull(error);
    }

    [Theory]
    [InlineData(null, new[] { 443 })]
    [InlineData("", new[] { 443 })]
    [InlineData("443,8443", new[] { 443, 8443 })]
    [InlineData(" 8443 ", new[] { 443, 8443 })]
    public void Port_text_always_keeps_443(string? text, int[] expected)
    {
        Assert.True(DestinationOptions.TryParsePorts(text, out var ports, out var error), error);
        Assert.Equal(expected.Order(), ports.Order());
    }

    [Theory]
    [InlineData("0")]
    [InlineData("65536")]
    [InlineData("https")]
    [InlineData("-1")]
    public void Port_text_outside_1_to_65535_is_refused(string text)
    {
        Assert.False(DestinationOptions.TryParsePorts(text, out _, out var error));
        Assert.Contains(text, error);
    }

    [Fact]
    public void Default_options_allow_only_443_and_no_private_addresses()
    {
        var options = new DestinationOptions();
        Assert.Equal(new[] { 443 }, options.AllowedPorts);
        Assert.False(options.AllowPrivate);
        Assert.Empty(options.Resolve);
    }

    private static DestinationPolicy Policy(IHostAddressResolver resolver) => new(new DestinationOptions(), resolver);

    private sealed class RecordingResolver : IHostAddressResolver
    {
        private readonly Dictionary<string, IPAddress[]> _answers = new(StringComparer.Ordinal);

        public List<string> Asked { get; } = [];

        public string[] this[string host]
        {
            set => _answers[host] = value.Select(IPAddress.Parse).ToArray();
        }

        public ValueTask<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
        {
            Asked.Add(host);
            return ValueTask.FromResult(_answers.TryGetValue(host, out var answer) ? answer : []);
        }
    }
}
