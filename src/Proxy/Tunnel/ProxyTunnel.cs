using System.Net;
using Microsoft.AspNetCore.Http;
using VaultGrains.Proxy.Destinations;

namespace VaultGrains.Proxy.Tunnel;

/// <summary>
/// One accepted CONNECT: who opened it and the destination that was checked. Set as a connection
/// feature before TLS starts, so the handshake and every request inside the tunnel see it.
/// </summary>
public sealed class ProxyTunnel(string runtimeId, string token, string host, int port, IReadOnlyList<IPAddress> addresses)
{
    /// <summary>The runtime that authenticated the CONNECT.</summary>
    public string RuntimeId { get; } = runtimeId;

    /// <summary>The runtime's token; re-checked on every request so rotation ends a long-lived tunnel.</summary>
    internal string Token { get; } = token;

    /// <summary>The CONNECT host: lower case, no trailing dot, no IPv6 brackets.</summary>
    public string Host { get; } = host;

    /// <summary>The CONNECT port.</summary>
    public int Port { get; } = port;

    /// <summary>The addresses the destination policy checked; the upstream connection goes to one of these.</summary>
    public IReadOnlyList<IPAddress> Addresses { get; } = addresses;

    /// <summary>True when the CONNECT host is a number (a client sends no SNI for it).</summary>
    public bool HostIsIpLiteral { get; } = DestinationPolicy.IsIpLiteral(host);

    /// <summary>True when the client's TLS SNI names the CONNECT host; for an IP-literal host only an absent SNI does.</summary>
    public bool AcceptsServerName(string? serverName) =>
        string.IsNullOrEmpty(serverName) ? HostIsIpLiteral : !HostIsIpLiteral && NormalizeHost(serverName) == Host;

    /// <summary>True when a request's <c>Host</c> (or <c>:authority</c>) names the tunnel's host and port (no port means 443).</summary>
    public bool IsNamedBy(HostString requestHost) =>
        requestHost.HasValue && NormalizeHost(requestHost.Host) == Host && (requestHost.Port ?? 443) == Port;

    /// <summary>Lower case, no trailing dot, no IPv6 brackets: the form tunnel hosts are compared in.</summary>
    public static string NormalizeHost(string host)
    {
        var name = host.Trim();
        if (name.Length > 1 && name[0] == '[' && name[^1] == ']')
        {
            name = name[1..^1];
        }

        if (name.Length > 1 && name.EndsWith('.'))
        {
            name = name[..^1];
        }

        return name.ToLowerInvariant();
    }

    public override string ToString() => $"ProxyTunnel {{ RuntimeId = {RuntimeId}, Host = {Host}, Port = {Port} }}";
}
