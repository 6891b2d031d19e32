using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace VaultGrains.Bench.Load;

/// <summary>
/// The secret proxy against the same upstream direct: an agent's runtime set up through the API,
/// then GETs carrying <c>Authorization: Bearer CCASECRET_API_KEY</c> direct (the placeholder
/// travels as is), through kept-alive tunnels (one release per request) and through a new
/// CONNECT + TLS per request. The upstream counts what arrived, so each row proves its releases.
/// </summary>
internal sealed class ProxyBench(BenchSettings settings, ProcessWatch watch, ApiTarget api, Uri upstream, string upstreamCaFile, string secretValue)
{
    private const string EnvKey = "API_KEY";

    public async Task<List<ResultRow>> RunAsync()
    {
        var agent = await SetUpAgentAsync();
        var upstreamAuthority = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(upstreamCaFile));
        BenchRun.Log($"proxy: runtime {agent.RuntimeId} through {agent.ProxyUri}, upstream {upstream}");

        using var counts = CreateDirectClient(1, upstreamAuthority);
        var probe = await ProbeAsync(agent, counts);
        BenchRun.Log($"proxy: a first request through the proxy arrived with the value: {probe}");
        if (!probe)
        {
            throw new InvalidOperationException("The upstream did not receive the released value through the proxy.");
        }

        var rows = new List<ResultRow>();
        var scenario = $"GET, 1 placeholder header, {settings.Connections} connections";
        var direct = await MeasureAsync("P1", scenario, "direct", settings.Connections, agent, counts,
            connections => CreateDirectClient(connections, upstreamAuthority), null);
        rows.Add(direct);
        var warm = await MeasureAsync("P2", scenario, "proxy-warm", settings.Connections, agent, counts,
            connections => CreateTunnelClient(connections, agent), null);
        rows.Add(warm with { Ratio = warm.Throughput / direct.Throughput });
        var opened = new ConnectionCounter();
        var cold = await MeasureAsync("P3", scenario, "proxy-cold", settings.Connections, agent, counts,
            connections => CreateColdClient(connections, agent, opened), opened);
        rows.Add(cold with { Ratio = cold.Throughput / direct.Throughput });

        var one = settings.ProxyLatencyConnections;
        var latency = $"GET, 1 placeholder header, {one} connection{(one == 1 ? "" : "s")}";
        var directOne = await MeasureAsync("P4", latency, "direct", one, agent, counts,
            connections => CreateDirectClient(connections, upstreamAuthority), null);
        rows.Add(directOne);
        var warmOne = await MeasureAsync("P5", latency, "proxy-warm", one, agent, counts,
            connections => CreateTunnelClient(connections, agent), null);
        rows.Add(warmOne with { Ratio = warmOne.Throughput / directOne.Throughput });
        var coldOne = await MeasureAsync("P6", latency, "proxy-cold", one, agent, counts,
            connections => CreateColdClient(connections, agent, opened), opened);
        rows.Add(coldOne with { Ratio = coldOne.Throughput / directOne.Throughput });
        return rows;
    }

    private async Task<ProxyAgent> SetUpAgentAsync()
    {
        var tenant = await api.CreateTenantAsync("proxy-bench");
        var vault = await api.CreateVaultAsync(tenant, "proxy-bench");
        var reply = await api.CreateSecretAsync(vault, EnvKey, secretValue, allowedDomain: upstream.Host);
        if (reply.Status != CreateStatus.Created)
        {
            throw new InvalidOperationException($"creating the proxy benchmark's secret failed: {reply.Status} {reply.Failure}");
        }

        var (runtimeId, token) = await api.CreateRuntimeAsync(vault, "bench-agent");
        var environment = await api.GetRuntimeEnvironmentAsync(tenant, runtimeId);
        var placeholder = environment.GetProperty("variables").GetProperty(EnvKey).GetString()!;
        var proxyUri = new Uri(environment.GetProperty("proxy_url").GetString()!);
        var authority = X509Certificate2.CreateFromPem(environment.GetProperty("ca_certificate").GetString()!);
        return new ProxyAgent(runtimeId, token, placeholder, proxyUri, authority);
    }

    /// <summary>One request through a fresh tunnel; true when the upstream's released count moved by one.</summary>
    private async Task<bool> ProbeAsync(ProxyAgent agent, HttpClient counts)
    {
        // The proxy learns the runtime from the cluster on first use; give it a few tries.
        for (var attempt = 1; ; attempt++)
        {
            var before = await CountsAsync(counts);
            using var client = CreateTunnelClient(1, agent);
            var status = await SendAsync(client, agent.Placeholder);
            var after = await CountsAsync(counts);
            if (status == HttpStatusCode.OK && after.Released - before.Released == 1)
            {
                return true;
            }

            if (attempt == 10)
            {
                BenchRun.Log($"proxy: the probe answered {(int)status}; upstream released {after.Released - before.Released}");
                return false;
            }

            await Task.Delay(500);
        }
    }

    private async Task<ResultRow> MeasureAsync(string id, string scenario, string target, int connections, ProxyAgent agent, HttpClient counts,
        Func<int, HttpClient> createClient, ConnectionCounter? opened)
    {
        BenchRun.Log($"scenario {id} proxy {scenario}: {target}");
        using var client = createClient(connections);
        long answered = 0;
        var before = await CountsAsync(counts);
        var openedBefore = opened?.Count ?? 0;
        var measurement = await ClosedLoop.RunAsync(connections, settings.ProxyWarmup, settings.ProxyDuration, watch, async (_, _) =>
        {
            var began = Stopwatch.GetTimestamp();
            var status = await SendAsync(client, agent.Placeholder);
            var elapsed = Stopwatch.GetTimestamp() - began;
            if (status != HttpStatusCode.OK)
            {
                return Outcome.Error(elapsed, $"{(int)status}");
            }

            Interlocked.Increment(ref answered);
            return Outcome.Success(elapsed);
        });
        var after = await CountsAsync(counts);
        var received = after.Requests - before.Requests;
        var released = after.Released - before.Released;
        // The counts request itself arrives on a connection of its own client, opened once.
        var upstreamConnections = after.Connections - before.Connections;
        var notes = target == "direct"
            ? $"upstream: {received:N0} requests, {after.Placeholder - before.Placeholder:N0} with the placeholder as sent, {released:N0} with the value"
            : $"upstream: the value in {released:N0} of {received:N0} requests ({answered:N0} answered 200 to the agent)";
        long? connectionsOpened = null;
        if (opened is not null)
        {
            connectionsOpened = opened.Count - openedBefore;
            notes += $"; {connectionsOpened:N0} CONNECT + TLS for {answered:N0} requests";
        }

        notes += $"; upstream connections opened: {upstreamConnections:N0}";

        var row = ResultRow.From(id, scenario, target, measurement, notes) with
        {
            UpstreamRequests = received,
            UpstreamReleased = released,
            AgentAnswered = answered,
            ConnectionsOpened = connectionsOpened,
            UpstreamConnections = upstreamConnections,
        };
        BenchRun.Log($"  {row.Summary()}");
        return row;
    }

    private async Task<HttpStatusCode> SendAsync(HttpClient client, string placeholder)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, upstream);
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + placeholder);
        using var response = await client.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        return response.StatusCode;
    }

    private async Task<UpstreamCounts> CountsAsync(HttpClient direct) =>
        (await direct.GetFromJsonAsync<UpstreamCounts>(new Uri(upstream, "_bench/counts")))!;

    /// <summary>Straight to the upstream, its name pinned to loopback (like curl's --resolve), trusting the run's upstream CA.</summary>
    private HttpClient CreateDirectClient(int connections, X509Certificate2 upstreamAuthority)
    {
        var handler = KeptAlive(connections, upstreamAuthority);
        var port = upstream.Port;
        handler.ConnectCallback = async (_, cancellationToken) => await ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
        return Client(handler);
    }

    /// <summary>As an agent is set up: WebProxy with the runtime's credentials, trusting the proxy CA; tunnels stay open.</summary>
    private static HttpClient CreateTunnelClient(int connections, ProxyAgent agent)
    {
        var handler = KeptAlive(connections, agent.ProxyAuthority);
        handler.UseProxy = true;
        handler.Proxy = new WebProxy(agent.ProxyUri) { Credentials = new NetworkCredential(agent.RuntimeId, agent.Token) };
        return Client(handler);
    }

    /// <summary>
    /// A new TCP connection, CONNECT and TLS handshake for every request. The CONNECT is written
    /// here with <c>Proxy-Authorization</c> up front, as curl, Python and Go send it:
    /// SocketsHttpHandler's own proxy support first tries without credentials, and the proxy's
    /// 407 closes that connection, so it would measure two connections per request. No connection
    /// is pooled (PooledConnectionLifetime zero); <paramref name="opened"/> counts them as proof.
    /// </summary>
    private HttpClient CreateColdClient(int connections, ProxyAgent agent, ConnectionCounter opened)
    {
        var handler = KeptAlive(connections, agent.ProxyAuthority);
        handler.PooledConnectionLifetime = TimeSpan.Zero;
        var proxy = new IPEndPoint(IPAddress.Parse(agent.ProxyUri.Host), agent.ProxyUri.Port);
        var connect = Encoding.ASCII.GetBytes(
            $"CONNECT {upstream.Host}:{upstream.Port} HTTP/1.1\r\nHost: {upstream.Host}:{upstream.Port}\r\n"
            + $"Proxy-Authorization: Basic {Convert.ToBase64String(Encoding.UTF8.GetBytes($"{agent.RuntimeId}:{agent.Token}"))}\r\n\r\n");
        handler.ConnectCallback = async (_, cancellationToken) =>
        {
            var stream = await ConnectAsync(proxy, cancellationToken);
            try
            {
                await stream.WriteAsync(connect, cancellationToken);
                var status = await ReadConnectStatusAsync(stream, cancellationToken);
                if (status != 200)
                {
                    throw new HttpRequestException(HttpRequestError.ProxyTunnelError, $"CONNECT answered {status}");
                }

                opened.Add();
                return stream;
            }
            catch
            {
                await stream.DisposeAsync();
                throw;
            }
        };
        return Client(handler);
    }

    private static SocketsHttpHandler KeptAlive(int connections, X509Certificate2 authority) => new()
    {
        MaxConnectionsPerServer = connections,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        UseCookies = false,
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        SslOptions = { RemoteCertificateValidationCallback = (_, certificate, _, errors) => TrustedBy(authority, certificate, errors) },
    };

    private static HttpClient Client(SocketsHttpHandler handler) => new(handler)
    {
        Timeout = TimeSpan.FromSeconds(30),
        DefaultRequestVersion = HttpVersion.Version11,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    private static bool TrustedBy(X509Certificate2 authority, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }

    private static async Task<NetworkStream> ConnectAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    // The proxy's answer to CONNECT has no body on success, and the proxy sends nothing more
    // until our TLS ClientHello, so reading whatever arrives cannot swallow tunnel bytes.
    private static async Task<int> ReadConnectStatusAsync(Stream stream, CancellationToken cancellationToken)
    {
        var head = new byte[1024];
        var length = 0;
        while (length < 4 || !head.AsSpan(length - 4, 4).SequenceEqual("\r\n\r\n"u8))
        {
            var read = length == head.Length ? 0 : await stream.ReadAsync(head.AsMemory(length), cancellationToken);
            if (read == 0)
            {
                throw new HttpRequestException(HttpRequestError.ProxyTunnelError, "the proxy closed the connection or sent an oversized head");
            }

            length += read;
        }

        var statusLine = Encoding.ASCII.GetString(head, 0, length).Split(' ', 3);
        return statusLine.Length > 1 && int.TryParse(statusLine[1], out var status) ? status : 0;
    }

    private sealed record ProxyAgent(string RuntimeId, string Token, string Placeholder, Uri ProxyUri, X509Certificate2 ProxyAuthority);

    private sealed record UpstreamCounts(
        [property: System.Text.Json.Serialization.JsonPropertyName("requests")] long Requests,
        [property: System.Text.Json.Serialization.JsonPropertyName("released")] long Released,
        [property: System.Text.Json.Serialization.JsonPropertyName("placeholder")] long Placeholder,
        [property: System.Text.Json.Serialization.JsonPropertyName("connections")] long Connections);

    private sealed class ConnectionCounter
    {
        private long count;

        public long Count => Interlocked.Read(ref count);

        public void Add() => Interlocked.Increment(ref count);
    }
}
