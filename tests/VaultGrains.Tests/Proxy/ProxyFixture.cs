using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using VaultGrains.Proxy.Release;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Proxy;

/// <summary>
/// A real upstream and a real proxy in front of it (private addresses allowed, every test name
/// resolved to 127.0.0.1, the upstream CA trusted), one runtime with three secrets, and the clients
/// agents use: curl and HttpClient through the proxy, plus a raw socket for what they will not send.
/// </summary>
public sealed class ProxyFixture : IAsyncLifetime
{
    public const string RuntimeId = "rtm_01HZX3R6Y8K2M4N6P8Q0S2T4V6";
    public const string ApiKey = "sk-api-4f9a1c7e2b";
    public const string WildToken = "wild-7d3e9b1a55";
    public const string AnySecret = "any-0c8f2d6e41";

    public string Token { get; private set; } = "rt_" + Convert.ToBase64String(Guid.NewGuid().ToByteArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public TestUpstream Upstream { get; } = new();

    public InMemoryRuntimeDirectory Directory { get; } = new();

    public X509Certificate2 ProxyAuthority { get; } = TestCertificates.CreateAuthority("VaultGrains test proxy CA");

    public string ProxyAuthorityPemFile { get; private set; } = "";

    public TestProxyHost Proxy { get; private set; } = null!;

    /// <summary>A port in Proxy:AllowedPorts where nothing listens.</summary>
    public int ClosedPort { get; private set; }

    public static RuntimeSecrets Secrets => new(RuntimeId, "org_01HZX3R6Y8K2M4N6P8Q0S2T4V6",
    [
        new ReleasableSecret("vlt_01HZX3R6Y8K2M4N6P8Q0S2T4V6", "sec_01HZX3R6Y8K2M4N6P8Q0S2T4V1", "API_KEY", ["api.example.test"], ApiKey),
        new ReleasableSecret("vlt_01HZX3R6Y8K2M4N6P8Q0S2T4V6", "sec_01HZX3R6Y8K2M4N6P8Q0S2T4V2", "WILD_TOKEN", ["*.example.test"], WildToken),
        new ReleasableSecret("vlt_01HZX3R6Y8K2M4N6P8Q0S2T4V6", "sec_01HZX3R6Y8K2M4N6P8Q0S2T4V3", "ANY_SECRET", [], AnySecret),
    ]);

    public static string ResolveAll(string address) => string.Join(',', TestUpstream.Names.Select(name => $"{name}={address}"));

    public async Task InitializeAsync()
    {
        await Upstream.StartAsync();
        ProxyAuthorityPemFile = TestCertificates.WritePem(ProxyAuthority);
        Directory.Add(Token, Secrets);
        ClosedPort = FreePort();
        Proxy = await TestProxyHost.StartAsync(Directory, ProxyAuthority, new Dictionary<string, string?>
        {
            ["Proxy:AllowPrivate"] = "true",
            ["Proxy:Resolve"] = ResolveAll("127.0.0.1"),
            ["Proxy:UpstreamCaFile"] = Upstream.AuthorityPemFile,
            ["Proxy:AllowedPorts"] = $"{Upstream.HttpsPort},{Upstream.HttpPort},{ClosedPort}",
        });
    }

    public async Task DisposeAsync()
    {
        await Proxy.DisposeAsync();
        await Upstream.DisposeAsync();
    }

    public string Https(string host, string pathAndQuery) => $"https://{host}:{Upstream.HttpsPort}{pathAndQuery}";

    public string ProxyUrl(string? token = null) => $"http://{RuntimeId}:{token ?? Token}@127.0.0.1:{Proxy.Port}";

    public void RotateToken()
    {
        Token = "rt_rotated_" + Guid.NewGuid().ToString("N");
        Directory.Rotate(RuntimeId, Token);
    }

    /// <summary>curl through the proxy (credentials in the proxy URL, trusting the proxy CA).</summary>
    public Task<CurlResult> CurlAsync(string url, params string[] arguments) =>
        CurlResult.RunAsync(["--proxy", ProxyUrl(), "--cacert", ProxyAuthorityPemFile, .. arguments, url]);

    /// <summary>HttpClient through the proxy as an agent sets it up: WebProxy with credentials, trusting the proxy CA.</summary>
    public HttpClient CreateClient(Version? version = null, string? token = null, RemoteCertificateValidationCallback? validate = null)
    {
        var handler = new SocketsHttpHandler
        {
            Proxy = new WebProxy(Proxy.ProxyUri) { Credentials = new NetworkCredential(RuntimeId, token ?? Token) },
            UseProxy = true,
            AllowAutoRedirect = false,
        };
        handler.SslOptions.RemoteCertificateValidationCallback = validate ?? TrustProxyAuthority;
        return new HttpClient(handler)
        {
            DefaultRequestVersion = version ?? HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    public bool TrustProxyAuthority(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors) =>
        TestCertificates.TrustOnly(ProxyAuthority)(sender, certificate, chain, errors);

    /// <summary>A raw TCP connection to the proxy that sent <c>CONNECT authority</c> and read the answer's head and body.</summary>
    public async Task<RawTunnel> ConnectAsync(string authority, string? proxyAuthorization, int? port = null)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port ?? Proxy.Port);
        var stream = client.GetStream();
        var request = new StringBuilder($"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if (proxyAuthorization is not null)
        {
            request.Append("Proxy-Authorization: ").Append(proxyAuthorization).Append("\r\n");
        }

        await stream.WriteAsync(Encoding.ASCII.GetBytes(request.Append("\r\n").ToString()));
        var response = await RawHttp.ReadResponseAsync(stream);
        return new RawTunnel(client, stream, response);
    }

    public string BasicCredentials(string? token = null) =>
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{RuntimeId}:{token ?? Token}"));

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>A raw connection after CONNECT, with the proxy's answer.</summary>
public sealed class RawTunnel(TcpClient client, NetworkStream stream, RawResponse response) : IDisposable
{
    public RawResponse Response { get; } = response;

    public NetworkStream Stream { get; } = stream;

    /// <summary>True when the proxy closed the connection (a read returns nothing).</summary>
    public async Task<bool> IsClosedByProxyAsync()
    {
        var buffer = new byte[1];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            return await Stream.ReadAsync(buffer, timeout.Token) == 0;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public void Dispose() => client.Dispose();
}

/// <summary>A raw HTTP/1.1 response.</summary>
public sealed record RawResponse(int Status, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
}

public static class RawHttp
{
    /// <summary>Reads one HTTP/1.1 response with a Content-Length (or none) body, byte by byte.</summary>
    public static async Task<RawResponse> ReadResponseAsync(Stream stream)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one) == 0)
            {
                throw new IOException($"connection closed after: {head}");
            }

            head.Append((char)one[0]);
        }

        var lines = head.ToString().Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var status = int.Parse(lines[0].Split(' ')[1]);
        var headers = lines.Skip(1).Select(line => line.Split(':', 2)).ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
        var length = headers.TryGetValue("Content-Length", out var text) ? int.Parse(text) : 0;
        var body = new byte[length];
        await stream.ReadExactlyAsync(body);
        return new RawResponse(status, headers, Encoding.UTF8.GetString(body));
    }
}

/// <summary>One curl run: exit code, the final response's status, headers and body, and the CONNECT status.</summary>
public sealed record CurlResult(int ExitCode, int Status, int ConnectStatus, string HttpVersion, string Headers, string Body, string Error, string WriteOut)
{
    public static async Task<CurlResult> RunAsync(IEnumerable<string> arguments)
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("vaultgrains-curl").FullName;
        var headersFile = Path.Combine(directory, "headers");
        var bodyFile = Path.Combine(directory, "body");
        var start = new ProcessStartInfo("curl")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["-sS", "--max-time", "20", "--noproxy", "", "-D", headersFile, "-o", bodyFile, "-w", "%{http_code} %{http_connect} %{http_version}", .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("HTTPS_PROXY");
        start.Environment.Remove("https_proxy");
        start.Environment.Remove("HTTP_PROXY");
        start.Environment.Remove("http_proxy");
        start.Environment.Remove("ALL_PROXY");
        start.Environment.Remove("NO_PROXY");
        start.Environment.Remove("no_proxy");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var writeOut = await stdout;
        var written = writeOut.Split(' ');
        var allHeaders = File.Exists(headersFile) ? await File.ReadAllTextAsync(headersFile) : "";
        var lastBlock = allHeaders.Split("\r\n\r\n", StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "";
        var body = File.Exists(bodyFile) ? await File.ReadAllTextAsync(bodyFile) : "";
        System.IO.Directory.Delete(directory, recursive: true);
        return new CurlResult(process.ExitCode, int.Parse(written[0]), int.Parse(written[1]), written[2], lastBlock, body, await stderr, writeOut);
    }

    /// <summary>The value of a header in the final response (first occurrence), or null.</summary>
    public string? Header(string name) => Headers.Split("\r\n")
        .Select(line => line.Split(':', 2))
        .Where(parts => parts.Length == 2 && parts[0].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
        .Select(parts => parts[1].Trim())
        .FirstOrDefault();
}
