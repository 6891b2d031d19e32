using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Text;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Proxy;

/// <summary>
/// The secret proxy end to end, with the clients agents use: what is released where, what never
/// leaves, and what the agent sees back. Every test marks its requests so the upstream's record
/// can be asked what it received.
/// </summary>
public sealed class ProxyTunnelTests(ProxyFixture fixture) : IClassFixture<ProxyFixture>
{
    private static string NewMarker() => "t" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task Connect_without_credentials_is_407_with_a_challenge_and_the_connection_closed()
    {
        using var tunnel = await fixture.ConnectAsync($"api.example.test:{fixture.Upstream.HttpsPort}", proxyAuthorization: null);

        Assert.Equal(407, tunnel.Response.Status);
        Assert.Equal("Basic realm=\"vaultgrains\"", tunnel.Response.Header("Proxy-Authenticate"));
        Assert.Equal("application/json", tunnel.Response.Header("Content-Type"));
        Assert.Equal("{\"error\":\"proxy authentication required\"}", tunnel.Response.Body);
        Assert.True(await tunnel.IsClosedByProxyAsync());
    }

    [Fact]
    public async Task Connect_with_a_wrong_token_is_407_and_nothing_is_forwarded()
    {
        var marker = NewMarker();
        using (var tunnel = await fixture.ConnectAsync($"api.example.test:{fixture.Upstream.HttpsPort}", fixture.BasicCredentials("rt_wrong")))
        {
            Assert.Equal(407, tunnel.Response.Status);
            Assert.Equal("{\"error\":\"proxy authentication required\"}", tunnel.Response.Body);
        }

        var curl = await CurlResult.RunAsync(["--proxy", fixture.ProxyUrl("rt_wrong"), "--cacert", fixture.ProxyAuthorityPemFile,
            "-H", "X-Api-Key: CCASECRET_API_KEY", fixture.Https("api.example.test", $"/echo/{marker}")]);
        Assert.NotEqual(0, curl.ExitCode);
        Assert.Equal(407, curl.ConnectStatus);

        using var client = fixture.CreateClient(token: "rt_wrong");
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(fixture.Https("api.example.test", $"/echo/{marker}")));
        Assert.Empty(fixture.Upstream.RequestsWith(marker));
    }

    [Fact]
    public async Task Released_in_a_header_for_an_allowed_host_and_recorded_without_the_value()
    {
        var marker = NewMarker();
        var curl = await fixture.CurlAsync(fixture.Https("api.example.test", $"/echo/{marker}"), "-H", "X-Api-Key: CCASECRET_API_KEY");

        Assert.Equal(200, curl.Status);
        Assert.Equal(200, curl.ConnectStatus);
        var received = Assert.Single(fixture.Upstream.RequestsWith(marker));
        Assert.Equal(ProxyFixture.ApiKey, received.Header("X-Api-Key"));
        var released = Assert.Single(fixture.Proxy.Events.ForPath(marker));
        Assert.Equal(("API_KEY", "header", "released", null, "api.example.test", "GET"),
            (released.EnvKey, released.Location, released.Outcome, released.Reason, released.Host, released.Method));
        Assert.DoesNotContain(fixture.Proxy.Logs.Lines, line => line.Contains(ProxyFixture.ApiKey, StringComparison.Ordinal) || line.Contains(fixture.Token, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Released_in_the_path_and_query_and_the_event_keeps_only_query_names()
    {
        var marker = NewMarker();
        var curl = await fixture.CurlAsync(fixture.Https("api.example.test", $"/echo/{marker}/CCASECRET_API_KEY?key=CCASECRET_API_KEY&page=2"));

        Assert.Equal(200, curl.Status);
        var received = Assert.Single(fixture.Upstream.RequestsWith(marker));
        Assert.Equal($"/echo/{marker}/{ProxyFixture.ApiKey}?key={ProxyFixture.ApiKey}&page=2", received.Target);
        var events = fixture.Proxy.Events.ForPath(marker);
        Assert.Equal(["path", "query"], events.Select(e => e.Location).Order());
        Assert.All(events, e => Assert.Equal($"/echo/{marker}/CCASECRET_API_KEY?key&page", e.Path));
        Assert.All(events, e => Assert.Equal("released", e.Outcome));
    }

    [Fact]
    public async Task Released_inside_authorization_basic()
    {
        var marker = NewMarker();
        var curl = await fixture.CurlAsync(fixture.Https("api.example.test", $"/echo/{marker}"), "-u", "agent:CCASECRET_API_KEY");

        Assert.Equal(200, curl.Status);
        var received = Assert.Single(fixture.Upstream.RequestsWith(marker));
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"agent:{ProxyFixture.ApiKey}")), received.Header("Authorization"));
        Assert.Equal("authorization", Assert.Single(fixture.Proxy.Events.ForPath(marker)).Location);
    }

    [Fact]
    public async Task Not_released_to_a_host_outside_allowed_domains()
    {
        var marker = NewMarker();
        var curl = await fixture.CurlAsync(fixture.Https("other.example.test", $"/echo/{marker}"),
            "-H", "X-Api-Key: CCASECRET_API_KEY", "-H", "X-Wild: CCASECRET_WILD_TOKEN");

        Assert.Equal(200, curl.Status);
        var received = Assert.Single(fixture.Upstream.RequestsWith(marker));
        Assert.Equal("CCASECRET_API_KEY", received.Header("X-Api-Key"));
        Assert.Equal(ProxyFixture.WildToken, received.Header("X-Wild"));
        Assert.Contains(fixture.Proxy.Events.ForPath(marker), e => e.EnvKey == "API_KEY" && e.Outcome == "refused" && e.Reason == "domain_not_allowed");
    }

    [Fact]
    public async Task Not_released_to_the_apex_of_a_wildcard_pattern()
    {
        var marker = NewMarker();
        var curl = await fixture.CurlAsync(fixture.Https("example.test", $"/echo/{marker}"), "-H", "X-Wild: CCASECRET_WILD_TOKEN");

        Assert.Equal(200, curl.Status);
        Assert.Equal("CCASECRET_WILD_TOKEN", Assert.Single(fixture.Upstream.RequestsWith(marker)).Header("X-Wild"));
    }

    [Theory]
    [InlineData("evilexample.test")]
    [InlineData("example.test.evil.test")]
    public async Task Not_released_to_look_alike_hosts(string host)
    {
        var marker = NewMarker();
        var curl = await fixture.CurlAsync(fixture.Https(host, $"/echo/{marker}"),
            "-H", "X-Api-Key: CCASECRET_API_KEY", "-H", "X-Wild: CCASECRET_WILD_TOKEN", "-H", "X-Any: CCASECRET_ANY_SECRET");

        Assert.Equal(200, curl.Status);
        var received = Assert.Single(fixture.Upstream.RequestsWith(marker));
        Assert.Equal("CCASECRET_API_KEY", received.Header("X-Api-Key"));
        Assert.Equal("CCASECRET_WILD_TOKEN", received.Header("X-Wild"));
        // The tunnel itself works: a secret without a domain list is released there.
        Assert.Equal(ProxyFixture.AnySecret, received.Header("X-Any"));
    }

    [Fact]
    public async Task Plain_http_is_forwarded_without_release_and_refusals_are_recorded()
    {
        var marker = NewMarker();
        var url = $"http://api.example.test:{fixture.Upstream.HttpPort}/echo/{marker}?key=CCASECRET_API_KEY";
        var curl = await fixture.CurlAsync(url, "-H", "X-Api-Key: CCASECRET_API_KEY");

        Assert.Equal(200, curl.Status);
        var received = Assert.Single(fixture.Upstream.RequestsWith(marker));
        Assert.Equal("CCASECRET_API_KEY", received.Header("X-Api-Key"));
        Assert.EndsWith("?key=CCASECRET_API_KEY", received.Target);
        Assert.Null(received.Header("Proxy-Authorization"));
        var events = fixture.Proxy.Events.ForPath(marker);
        Assert.Equal(2, events.Count);
        Assert.All(events, e => Assert.Equal(("refused", "plain_http"), (e.Outcome, e.Reason)));

        var anonymous = await CurlResult.RunAsync(["--proxy", $"http://127.0.0.1:{fixture.Proxy.Port}", url]);
        Assert.Equal(407, anonymous.Status);
        Assert.Equal("{\"error\":\"proxy authentication required\"}", anonymous.Body);
        Assert.Equal("Basic realm=\"vaultgrains\"", anonymous.Header("Proxy-Authenticate"));
        Assert.Single(fixture.Upstream.RequestsWith(marker));
    }

    [Fact]
    public async Task Trace_is_refused_and_never_forwarded()
    {
        var marker = NewMarker();
        var curl = await fixture.CurlAsync(fixture.Https("api.example.test", $"/echo/{marker}"), "-X", "TRACE", "-H", "X-Api-Key: CCASECRET_API_KEY");

        Assert.Equal(405, curl.Status);
        Assert.Equal("{\"error\":\"method not allowed\"}", curl.Body);
        Assert.Empty(fixture.Upstream.RequestsWith(marker));
        Assert.All(fixture.Proxy.Events.ForPath(marker), e => Assert.Equal(("refused", "method_not_allowed"), (e.Outcome, e.Reason)));
    }

    [Theory]
    [InlineData("other.example.test:{0}")]
    [InlineData("api.example.test")]
    [InlineData("api.example.test:1{0}")]
    public async Task Host_header_naming_another_host_is_421_over_http11_and_nothing_is_released(string hostFormat)
    {
        var marker = NewMarker();
        using var tunnel = await fixture.ConnectAsync($"api.example.test:{fixture.Upstream.HttpsPort}", fixture.BasicCredentials());
        Assert.Equal(200, tunnel.Response.Status);
        await using var tls = new SslStream(tunnel.Stream, leaveInnerStreamOpen: true, fixture.TrustProxyAuthority);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "api.example.test",
            ApplicationProtocols = [SslApplicationProtocol.Http11],
        });
        var host = string.Format(System.Globalization.CultureInfo.InvariantCulture, hostFormat, fixture.Upstream.HttpsPort);
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET /echo/{marker}?k=CCASECRET_API_KEY HTTP/1.1\r\nHost: {host}\r\nX-Api-Key: CCASECRET_API_KEY\r\n\r\n"));

        var response = await RawHttp.ReadResponseAsync(tls);
        Assert.Equal(421, response.Status);
        Assert.Equal("{\"error\":\"misdirected request\"}", response.Body);
        Assert.Empty(fixture.Upstream.RequestsWith(marker));
        Assert.Empty(fixture.Proxy.Events.ForPath(marker));
    }

    [Fact]
    public async Task Second_host_on_a_reused_http2_connection_is_421()
    {
        var marker = NewMarker();
        var first = fixture.Https("api.example.test", $"/echo/{marker}/first");
        var second = fixture.Https("api.example.test", $"/echo/{marker}/second?k=CCASECRET_API_KEY");
        var curl = await CurlResult.RunAsync([
            "--proxy", fixture.ProxyUrl(), "--cacert", fixture.ProxyAuthorityPemFile, "--http2", first,
            "--next", "-D", "/dev/null", "-o", "/dev/null", "-w", " %{http_code} %{num_connects}",
            "--proxy", fixture.ProxyUrl(), "--cacert", fixture.ProxyAuthorityPemFile, "--http2",
            "-H", $"Host: other.example.test:{fixture.Upstream.HttpsPort}", "-H", "X-Api-Key: CCASECRET_API_KEY", second]);

        Assert.Equal(0, curl.ExitCode);
        // First transfer: status, CONNECT status, HTTP version; second: status and new connections (0: reused).
        Assert.Equal("200 200 2 421 0", curl.WriteOut);
        var received = Assert.Single(fixture.Upstream.RequestsWith(marker));
        Assert.EndsWith("/first", received.Target);
        Assert.Equal("HTTP/2", received.Protocol);
    }

    [Fact]
    public async Task Httpclient_http2_host_override_gets_a_new_tunnel_whose_handshake_is_refused()
    {
        var marker = NewMarker();
        // A lenient agent that ignores name mismatches: only the proxy's SNI check stands in the way.
        using var client = fixture.CreateClient(HttpVersion.Version20, validate: (sender, certificate, chain, errors) =>
            fixture.TrustProxyAuthority(sender, certificate, chain, errors & ~SslPolicyErrors.RemoteCertificateNameMismatch));
        using var ok = await client.GetAsync(fixture.Https("api.example.test", $"/echo/{marker}/first"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(HttpVersion.Version20, ok.Version);

        // SocketsHttpHandler takes the Host override as the TLS name, so this opens a second tunnel
        // (CONNECT api.example.test, SNI other.example.test); the same-connection case is the curl test above.
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Https("api.example.test", $"/echo/{marker}/second"));
        request.Headers.Host = $"other.example.test:{fixture.Upstream.HttpsPort}";
        request.Headers.Add("X-Api-Key", "CCASECRET_API_KEY");
        await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(request));

        Assert.EndsWith("/first", Assert.Single(fixture.Upstream.RequestsWith(marker)).Target);
    }

    [Fact]
    public async Task Sni_other_than_the_connect_host_fails_the_handshake()
    {
        using var tunnel = await fixture.ConnectAsync($"api.example.test:{fixture.Upstream.HttpsPort}", fixture.BasicCredentials());
        Assert.Equal(200, tunnel.Response.Status);
        await using var tls = new SslStream(tunnel.Stream, leaveInnerStreamOpen: true, (_, _, _, _) => true);

        var failure = await Record.ExceptionAsync(() => tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "other.example.test" }));

        Assert.True(failure is AuthenticationException or IOException, $"handshake should fail, got {failure?.GetType().Name ?? "success"}");
    }

    [Fact]
    public async Task Redirect_is_passed_back_and_never_followed()
    {
        var marker = NewMarker();
        var curl = await fixture.CurlAsync(fixture.Https("api.example.test", $"/redirect/{marker}?k=CCASECRET_API_KEY"));

        Assert.Equal(302, curl.Status);
        Assert.Equal($"https://other.example.test:{fixture.Upstream.HttpsPort}/landed/redirect/{marker}", curl.Header("Location"));
        var received = Assert.Single(fixture.Upstream.RequestsWith(marker));
        Assert.StartsWith("/redirect/", received.Target);
    }

    [Theory]
    [InlineData("/echo")]
    [InlineData("/chunked")]
    public async Task Released_values_come_back_as_placeholders_in_headers_and_body(string path)
    {
        var marker = NewMarker();
        var curl = await fixture.CurlAsync(fixture.Https("api.example.test", $"{path}/{marker}"), "-H", "X-Api-Key: CCASECRET_API_KEY", "-H", "Accept-Encoding: gzip");

        Assert.Equal(200, curl.Status);
        Assert.Equal(ProxyFixture.ApiKey, Assert.Single(fixture.Upstream.RequestsWith(marker)).Header("X-Api-Key"));
        Assert.Equal("CCASECRET_API_KEY", curl.Header("X-Echo-X-Api-Key"));
        Assert.True(curl.Body.Contains("X-Api-Key: CCASECRET_API_KEY", StringComparison.OrdinalIgnoreCase), curl.Body);
        Assert.DoesNotContain(ProxyFixture.ApiKey, curl.Body + curl.Headers);
        // Released, so Accept-Encoding was dropped and the upstream answered scrubbable plain text.
        Assert.Null(Assert.Single(fixture.Upstream.RequestsWith(marker)).Header("Accept-Encoding"));
    }

    [Fact]
    public async Task Released_values_come_back_as_placeholders_over_http2()
    {
        var marker = NewMarker();
        using var client = fixture.CreateClient(HttpVersion.Version20);
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Https("api.example.test", $"/chunked/{marker}"));
        request.Headers.Add("X-Api-Key", "CCASECRET_API_KEY");
        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("CCASECRET_API_KEY", Assert.Single(response.Headers.GetValues("X-Echo-X-Api-Key")));
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("x-api-key: CCASECRET_API_KEY", body, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(ProxyFixture.ApiKey, body);
        Assert.Equal(ProxyFixture.ApiKey, Assert.Single(fixture.Upstream.RequestsWith(marker)).Header("X-Api-Key"));
    }

    [Fact]
    public async Task Proxy_and_forwarding_headers_are_not_forwarded_and_none_are_added()
    {
        var marker = NewMarker();
        var curl = await fixture.CurlAsync(fixture.Https("api.example.test", $"/echo/{marker}"),
            "-H", "Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==", "-H", "Proxy-Connection: keep-alive",
            "-H", "Forwarded: for=203.0.113.9", "-H", "X-Forwarded-For: 203.0.113.9", "-H", "X-Forwarded-Host: evil.test");

        Assert.Equal(200, curl.Status);
        var received = Assert.Single(fixture.Upstream.RequestsWith(marker));
        Assert.DoesNotContain(received.Headers.Keys, name =>
            name.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase)
            || name.Equals("Forwarded", StringComparison.OrdinalIgnoreCase)
            || name.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase)
            || name.Equals("traceparent", StringComparison.OrdinalIgnoreCase)
            || name.Equals("Via", StringComparison.OrdinalIgnoreCase));
        Assert.Equal($"api.example.test:{fixture.Upstream.HttpsPort}", received.Host);
    }

    [Fact]
    public async Task Client_pinning_the_upstream_certificate_fails_closed()
    {
        var marker = NewMarker();
        var upstreamThumbprint = fixture.Upstream.Certificate.Thumbprint;
        using var client = fixture.CreateClient(validate: (_, certificate, _, _) =>
            certificate is not null && string.Equals(new System.Security.Cryptography.X509Certificates.X509Certificate2(certificate).Thumbprint, upstreamThumbprint, StringComparison.Ordinal));

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(fixture.Https("api.example.test", $"/echo/{marker}?k=CCASECRET_API_KEY")));
        Assert.Empty(fixture.Upstream.RequestsWith(marker));
    }

    [Fact]
    public async Task Token_rotation_ends_a_long_lived_tunnel()
    {
        var marker = NewMarker();
        using var client = fixture.CreateClient(HttpVersion.Version11);
        using var first = await client.GetAsync(fixture.Https("api.example.test", $"/echo/{marker}/first"));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);

        fixture.RotateToken();
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Https("api.example.test", $"/echo/{marker}/second"));
        request.Headers.Add("X-Api-Key", "CCASECRET_API_KEY");
        using var second = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.ProxyAuthenticationRequired, second.StatusCode);
        Assert.Equal("{\"error\":\"proxy authentication required\"}", await second.Content.ReadAsStringAsync());
        Assert.EndsWith("/first", Assert.Single(fixture.Upstream.RequestsWith(marker)).Target);
    }

    [Fact]
    public async Task Upstream_that_does_not_answer_is_502_without_exception_text()
    {
        var marker = NewMarker();
        var curl = await fixture.CurlAsync($"https://api.example.test:{fixture.ClosedPort}/echo/{marker}");

        Assert.Equal(502, curl.Status);
        Assert.Equal("{\"error\":\"bad gateway\"}", curl.Body);
    }

    [Fact]
    public async Task Healthz_answers_on_the_proxy_listener()
    {
        using var client = new HttpClient();
        using var response = await client.GetAsync($"http://127.0.0.1:{fixture.Proxy.Port}/healthz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("{\"status\":\"ok\"}", await response.Content.ReadAsStringAsync());
    }
}
