using Microsoft.Extensions.Options;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Proxy;

/// <summary>
/// A proxy as deployed (private addresses refused) in front of the same loopback upstream: CONNECT
/// to loopback, to <c>localhost</c> and to names an operator mapped to private or metadata
/// addresses is refused before anything is dialled. Also: bad settings stop the host at start.
/// </summary>
public sealed class ProxyDestinationTests(ProxyFixture fixture) : IClassFixture<ProxyFixture>
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    [InlineData("api.example.test")]
    [InlineData("metadata.test")]
    [InlineData("internal.test")]
    [InlineData("2130706433")]
    public async Task Connect_to_a_non_public_destination_is_403(string host)
    {
        await using var proxy = await TestProxyHost.StartAsync(fixture.Directory, fixture.ProxyAuthority, new Dictionary<string, string?>
        {
            ["Proxy:AllowPrivate"] = "false",
            ["Proxy:Resolve"] = "api.example.test=127.0.0.1,metadata.test=169.254.169.254,internal.test=10.0.0.5",
            ["Proxy:UpstreamCaFile"] = fixture.Upstream.AuthorityPemFile,
            ["Proxy:AllowedPorts"] = $"{fixture.Upstream.HttpsPort}",
        });
        var before = fixture.Upstream.Requests.Count;

        using var tunnel = await fixture.ConnectAsync($"{host}:{fixture.Upstream.HttpsPort}", fixture.BasicCredentials(), proxy.Port);

        Assert.Equal(403, tunnel.Response.Status);
        Assert.Equal("{\"error\":\"destination not allowed\"}", tunnel.Response.Body);
        Assert.True(await tunnel.IsClosedByProxyAsync());
        Assert.Equal(before, fixture.Upstream.Requests.Count);

        var curl = await CurlResult.RunAsync(["--proxy", $"http://{ProxyFixture.RuntimeId}:{fixture.Token}@127.0.0.1:{proxy.Port}",
            "--cacert", fixture.ProxyAuthorityPemFile, $"https://{host}:{fixture.Upstream.HttpsPort}/echo"]);
        Assert.Equal(403, curl.ConnectStatus);
        Assert.Equal(before, fixture.Upstream.Requests.Count);
    }

    [Fact]
    public async Task Connect_to_a_port_not_allowed_is_403()
    {
        using var tunnel = await fixture.ConnectAsync($"api.example.test:22", fixture.BasicCredentials());

        Assert.Equal(403, tunnel.Response.Status);
        Assert.Equal("{\"error\":\"destination not allowed\"}", tunnel.Response.Body);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1", 400)]
    [InlineData("CONNECT api.example.test HTTP/1.1", 400)]
    [InlineData("CONNECT api.example.test:0 HTTP/1.1", 400)]
    [InlineData("CONNECT user@api.example.test:443 HTTP/1.1", 400)]
    public async Task Malformed_connect_is_400_json(string requestLine, int status)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, fixture.Proxy.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"{requestLine}\r\nHost: x\r\nProxy-Authorization: {fixture.BasicCredentials()}\r\n\r\n"));

        var response = await RawHttp.ReadResponseAsync(stream);

        Assert.Equal(status, response.Status);
        Assert.StartsWith("{\"error\":\"", response.Body);
    }

    [Theory]
    [InlineData("Proxy:Resolve", "api.example.test")]
    [InlineData("Proxy:AllowedPorts", "443,http")]
    [InlineData("Proxy:UpstreamCaFile", "/nonexistent/ca.pem")]
    [InlineData("Proxy:Address", "localhost")]
    public async Task Invalid_setting_stops_the_host_naming_the_key(string key, string value)
    {
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            TestProxyHost.StartAsync(fixture.Directory, fixture.ProxyAuthority, new Dictionary<string, string?> { [key] = value }));

        Assert.Contains(key + ":", failure.Message);
    }
}
