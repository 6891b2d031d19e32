using System.Globalization;
using System.Net;

namespace VaultGrains.Proxy.Destinations;

/// <summary>
/// What the operator allows as an upstream destination: private addresses (development only),
/// names mapped to fixed addresses like curl's <c>--resolve</c>, and the upstream ports.
/// </summary>
public sealed record DestinationOptions
{
    /// <summary>The port every deployment allows.</summary>
    public const int HttpsPort = 443;

    /// <summary>The port plain <c>http://</c> forwards may always use (they never carry a value).</summary>
    public const int HttpPort = 80;

    /// <summary>When true, loopback, private, link-local and other non-public addresses are allowed.</summary>
    public bool AllowPrivate { get; init; }

    /// <summary>Fixed answers by host name (lower case, no trailing dot), checked like DNS answers.</summary>
    public IReadOnlyDictionary<string, IPAddress[]> Resolve { get; init; } = new Dictionary<string, IPAddress[]>(StringComparer.Ordinal);

    /// <summary>Upstream ports a tunnel may go to; 443 unless the operator adds more.</summary>
    public IReadOnlySet<int> AllowedPorts { get; init; } = new HashSet<int> { HttpsPort };

    /// <summary>
    /// Parses <c>api.example.test=127.0.0.1,other.test=::1</c>. A name may repeat to give it several
    /// addresses. Empty or missing text is an empty map.
    /// </summary>
    public static bool TryParseResolve(string? text, out Dictionary<string, IPAddress[]> map, out string? error)
    {
        map = new Dictionary<string, IPAddress[]>(StringComparer.Ordinal);
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        var collected = new Dictionary<string, List<IPAddress>>(StringComparer.Ordinal);
        foreach (var rawEntry in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = rawEntry.IndexOf('=');
            if (equals <= 0 || equals == rawEntry.Length - 1)
            {
                error = $"resolve entry \"{rawEntry}\" is not name=address";
                return false;
            }

            var name = NormalizeName(rawEntry[..equals].Trim());
            if (name.Length == 0 || name.IndexOfAny([':', '/', '@', '[', ']', ' ', '=']) >= 0 || DestinationPolicy.IsIpLiteral(name))
            {
                error = $"resolve entry \"{rawEntry}\" does not start with a host name";
                return false;
            }

            if (!DestinationPolicy.TryParseIpLiteral(rawEntry[(equals + 1)..].Trim(), out var address))
            {
                error = $"resolve entry \"{rawEntry}\" does not end with an IP address";
                return false;
            }

            if (!collected.TryGetValue(name, out var addresses))
            {
                addresses = [];
                collected[name] = addresses;
            }

            if (!addresses.Contains(address))
            {
                addresses.Add(address);
            }
        }

        foreach (var (name, addresses) in collected)
        {
            map[name] = [.. addresses];
        }

        return true;
    }

    /// <summary>
    /// Parses <c>443,8443</c>. Port 443 is always in the result: the setting allows extra ports, it
    /// cannot take away HTTPS. Empty or missing text gives just 443.
    /// </summary>
    public static bool TryParsePorts(string? text, out HashSet<int> ports, out string? error)
    {
        ports = [HttpsPort];
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        foreach (var entry in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(entry, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                error = $"allowed port \"{entry}\" is not a number from 1 to 65535";
                return false;
            }

            ports.Add(port);
        }

        return true;
    }

    /// <summary>Lower case, no trailing dot: the form <see cref="Resolve"/> is keyed by.</summary>
    public static string NormalizeName(string host)
    {
        var name = host.Trim();
        if (name.EndsWith('.'))
        {
            name = name[..^1];
        }

        return name.ToLowerInvariant();
    }
}
