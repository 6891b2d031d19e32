using System.Net;
using System.Net.Sockets;

namespace VaultGrains.Proxy.Tunnel;

/// <summary>A parsed <c>CONNECT host:port HTTP/1.1</c> request head.</summary>
internal sealed record ConnectRequest(string Host, int Port, string? ProxyAuthorization)
{
    private const int MaxHostLength = 253;

    /// <summary>Parses a head (request line and header lines, CRLF separated, without the final blank line).</summary>
    public static bool TryParse(string head, out ConnectRequest? request, out string? error)
    {
        request = null;
        var lines = head.Split("\r\n");
        var parts = lines[0].Split(' ');
        if (parts.Length != 3 || parts[0] != "CONNECT" || parts[2] is not ("HTTP/1.1" or "HTTP/1.0"))
        {
            error = "invalid request line";
            return false;
        }

        if (!TryParseAuthority(parts[1], out var host, out var port))
        {
            error = "invalid CONNECT target";
            return false;
        }

        string? authorization = null;
        foreach (var line in lines.AsSpan(1))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0 || line[..colon].AsSpan().ContainsAny(' ', '\t'))
            {
                error = "invalid header line";
                return false;
            }

            if (line.AsSpan(0, colon).Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase))
            {
                if (authorization is not null)
                {
                    error = "repeated Proxy-Authorization header";
                    return false;
                }

                authorization = line[(colon + 1)..].Trim();
            }
        }

        request = new ConnectRequest(host, port, authorization);
        error = null;
        return true;
    }

    /// <summary>Reads <c>host:port</c> or <c>[v6]:port</c>; the port is required, the host is normalized.</summary>
    public static bool TryParseAuthority(string authority, out string host, out int port)
    {
        host = "";
        port = 0;
        int colon;
        string rawHost;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']');
            if (close < 0 || close + 1 >= authority.Length || authority[close + 1] != ':')
            {
                return false;
            }

            rawHost = authority[1..close];
            colon = close + 1;
            if (!IPAddress.TryParse(rawHost, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return false;
            }
        }
        else
        {
            colon = authority.LastIndexOf(':');
            if (colon <= 0)
            {
                return false;
            }

            rawHost = authority[..colon];
            if (rawHost.Length > MaxHostLength + 1 || !rawHost.All(IsHostChar) || rawHost.StartsWith('.') || rawHost.Contains(".."))
            {
                return false;
            }
        }

        var portText = authority[(colon + 1)..];
        if (portText.Length is 0 or > 5 || !portText.All(char.IsAsciiDigit) || !int.TryParse(portText, out port) || port is < 1 or > 65535)
        {
            return false;
        }

        host = ProxyTunnel.NormalizeHost(rawHost);
        return host.Length > 0;
    }

    private static bool IsHostChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_';
}
