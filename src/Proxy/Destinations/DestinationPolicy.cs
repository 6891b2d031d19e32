using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace VaultGrains.Proxy.Destinations;

/// <summary>
/// Decides whether a CONNECT target may be reached: an allowed port, and a host whose every address
/// is public (unless the operator allows private addresses). Names come from the operator's fixed
/// map first, then from the resolver; numeric hosts are parsed the way a resolver would read them.
/// </summary>
public sealed class DestinationPolicy(DestinationOptions options, IHostAddressResolver resolver)
{
    // IPv4 ranges that are not globally reachable (IANA special-purpose registry, plus multicast,
    // reserved and broadcast), as (network, prefix length).
    private static readonly (uint Network, int Prefix)[] NonPublicV4 =
    [
        (0x00000000, 8),   // 0.0.0.0/8 "this network"
        (0x0A000000, 8),   // 10.0.0.0/8 private
        (0x64400000, 10),  // 100.64.0.0/10 carrier-grade NAT
        (0x7F000000, 8),   // 127.0.0.0/8 loopback
        (0xA9FE0000, 16),  // 169.254.0.0/16 link-local, cloud metadata at 169.254.169.254
        (0xAC100000, 12),  // 172.16.0.0/12 private
        (0xC0000000, 24),  // 192.0.0.0/24 IETF protocol assignments
        (0xC0000200, 24),  // 192.0.2.0/24 documentation
        (0xC0586300, 24),  // 192.88.99.0/24 6to4 relay anycast
        (0xC0A80000, 16),  // 192.168.0.0/16 private
        (0xC6120000, 15),  // 198.18.0.0/15 benchmarking
        (0xC6336400, 24),  // 198.51.100.0/24 documentation
        (0xCB007100, 24),  // 203.0.113.0/24 documentation
        (0xE0000000, 4),   // 224.0.0.0/4 multicast
        (0xF0000000, 4),   // 240.0.0.0/4 reserved, includes 255.255.255.255 broadcast
    ];

    /// <summary>Checks a CONNECT target; never throws for a bad host.</summary>
    public ValueTask<DestinationDecision> CheckAsync(string host, int port, CancellationToken cancellationToken) =>
        CheckAsync(host, port, options.AllowedPorts.Contains(port), cancellationToken);

    /// <summary>
    /// Checks the target of a plain <c>http://</c> forward, which never carries a value: port 80 is
    /// allowed besides the operator's ports, so package mirrors and the like keep working.
    /// </summary>
    public ValueTask<DestinationDecision> CheckPlainHttpAsync(string host, int port, CancellationToken cancellationToken) =>
        CheckAsync(host, port, port == DestinationOptions.HttpPort || options.AllowedPorts.Contains(port), cancellationToken);

    private async ValueTask<DestinationDecision> CheckAsync(string host, int port, bool portAllowed, CancellationToken cancellationToken)
    {
        if (!portAllowed)
        {
            return DestinationDecision.Refuse(DestinationDecision.PortNotAllowed);
        }

        IPAddress[] addresses;
        if (IsIpLiteral(host))
        {
            if (!TryParseIpLiteral(host, out var literal))
            {
                return DestinationDecision.Refuse(DestinationDecision.Unresolved);
            }

            addresses = [literal];
        }
        else
        {
            var name = DestinationOptions.NormalizeName(host);
            if (name.Length == 0)
            {
                return DestinationDecision.Refuse(DestinationDecision.Unresolved);
            }

            addresses = options.Resolve.TryGetValue(name, out var fixedAddresses)
                ? fixedAddresses
                : await resolver.ResolveAsync(name, cancellationToken).ConfigureAwait(false);
        }

        if (addresses.Length == 0)
        {
            return DestinationDecision.Refuse(DestinationDecision.Unresolved);
        }

        // Every answer, not just the first: the connection may use any of them, and DNS rebinding
        // puts a private address beside a public one.
        if (!options.AllowPrivate && !Array.TrueForAll(addresses, IsPublic))
        {
            return DestinationDecision.Refuse(DestinationDecision.NotPublic);
        }

        return DestinationDecision.Allow(addresses.Distinct().ToArray());
    }

    /// <summary>
    /// True when the address is globally reachable. IPv6 forms that carry an IPv4 address
    /// (mapped, compatible, NAT64 <c>64:ff9b::/96</c>, 6to4 <c>2002::/16</c>) are judged by that
    /// address; IPv6 outside global unicast <c>2000::/3</c> and any scoped address is not public.
    /// </summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> v4 = stackalloc byte[4];
            address.TryWriteBytes(v4, out _);
            return IsPublicV4(BinaryPrimitives.ReadUInt32BigEndian(v4));
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        // A zone only means something for link-local and site-local addresses.
        if (address.ScopeId != 0)
        {
            return false;
        }

        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(b, out _);
        var high = BinaryPrimitives.ReadUInt64BigEndian(b);
        var low = BinaryPrimitives.ReadUInt64BigEndian(b[8..]);

        // ::a.b.c.d (compatible, also :: and ::1) and ::ffff:a.b.c.d (mapped).
        if (high == 0 && (low >> 32 == 0 || low >> 32 == 0xFFFF))
        {
            return IsPublicV4((uint)low);
        }

        // 64:ff9b::/96 NAT64 well-known prefix: the gateway connects to the embedded address.
        if (high == 0x0064_FF9B_0000_0000UL && low >> 32 == 0)
        {
            return IsPublicV4((uint)low);
        }

        // 6to4: 2002:AABB:CCDD::/48 tunnels to a.b.c.d.
        if (b[0] == 0x20 && b[1] == 0x02)
        {
            return IsPublicV4(BinaryPrimitives.ReadUInt32BigEndian(b[2..]));
        }

        // Only 2000::/3 is global unicast; this also excludes fc00::/7 (ULA), fe80::/10, fec0::/10,
        // ff00::/8, 100::/64 (discard), 64:ff9b:1::/48 (local NAT64) and the unassigned space.
        if ((b[0] & 0xE0) != 0x20)
        {
            return false;
        }

        var first32 = (uint)(high >> 32);
        return !(first32 == 0x2001_0000                               // 2001::/32 Teredo
            || first32 == 0x2001_0DB8                                 // 2001:db8::/32 documentation
            || (first32 & 0xFFFF_FFF0) == 0x2001_0010                 // 2001:10::/28 ORCHID
            || (first32 & 0xFFFF_FFF0) == 0x2001_0020                 // 2001:20::/28 ORCHIDv2
            || (high >> 16) == 0x2001_0002_0000UL                     // 2001:2::/48 benchmarking
            || (first32 & 0xFFFF_F000) == 0x3FFF_0000);               // 3fff::/20 documentation
    }

    /// <summary>
    /// True when a resolver would treat the host as an address rather than a name: dotted IPv4,
    /// bracketed or bare IPv6, every form <c>inet_aton</c> reads (<c>2130706433</c>, <c>0x7f.1</c>,
    /// <c>0177.0.0.1</c>, trailing dot), and any name whose last label is all digits or <c>0x</c>
    /// hex, since no top-level domain is numeric.
    /// </summary>
    public static bool IsIpLiteral(string host)
    {
        if (TryParseIpLiteral(host, out _))
        {
            return true;
        }

        var text = host.Trim();
        if (text.StartsWith('[') || text.Contains(':'))
        {
            // No host name holds a colon or a bracket: whatever it is, it is not a name to release to.
            return true;
        }

        if (text.EndsWith('.'))
        {
            text = text[..^1];
        }

        var lastLabel = text[(text.LastIndexOf('.') + 1)..];
        return lastLabel.Length > 0 && (lastLabel.All(char.IsAsciiDigit) || IsHexLabel(lastLabel));
    }

    /// <summary>Parses an IP-literal host (see <see cref="IsIpLiteral"/>) into the address a resolver would use.</summary>
    public static bool TryParseIpLiteral(string host, out IPAddress address)
    {
        address = IPAddress.None;
        var text = host.Trim();
        if (text.Length == 0)
        {
            return false;
        }

        if (text.StartsWith('[') || text.Contains(':'))
        {
            if (text.StartsWith('['))
            {
                if (!text.EndsWith(']'))
                {
                    return false;
                }

                // Inside a URL the zone separator is percent-encoded: [fe80::1%25eth0].
                text = text[1..^1].Replace("%25", "%", StringComparison.Ordinal);
            }

            if (IPAddress.TryParse(text, out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6)
            {
                address = v6;
                return true;
            }

            return false;
        }

        if (TryParseInetAton(text, out var value))
        {
            var bytes = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
            address = new IPAddress(bytes);
            return true;
        }

        return false;
    }

    private static bool IsPublicV4(uint value)
    {
        foreach (var (network, prefix) in NonPublicV4)
        {
            var mask = uint.MaxValue << (32 - prefix);
            if ((value & mask) == network)
            {
                return false;
            }
        }

        return true;
    }

    // inet_aton: one to four parts; each decimal, 0x hex or leading-zero octal; the last part fills
    // the remaining bytes (a.b.c.d, a.b.16bits, a.24bits, 32bits). One trailing dot is a root label.
    private static bool TryParseInetAton(string text, out uint value)
    {
        value = 0;
        if (text.EndsWith('.'))
        {
            text = text[..^1];
        }

        var parts = text.Split('.');
        if (parts.Length is < 1 or > 4)
        {
            return false;
        }

        uint result = 0;
        for (var i = 0; i < parts.Length; i++)
        {
            if (!TryParseInetAtonPart(parts[i], out var part))
            {
                return false;
            }

            var last = i == parts.Length - 1;
            var limit = last ? uint.MaxValue >> (8 * i) : 0xFFu;
            if (part > limit)
            {
                return false;
            }

            result = last ? result | (uint)part : result | ((uint)part << (24 - (8 * i)));
        }

        value = result;
        return true;
    }

    private static bool TryParseInetAtonPart(string part, out ulong value)
    {
        value = 0;
        if (part.Length == 0)
        {
            return false;
        }

        if (IsHexLabel(part))
        {
            var digits = part[2..].TrimStart('0');
            return digits.Length <= 8
                && (digits.Length == 0 || ulong.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value));
        }

        if (!part.All(char.IsAsciiDigit))
        {
            return false;
        }

        if (part.Length > 1 && part[0] == '0')
        {
            var digits = part.TrimStart('0');
            if (digits.Length > 11 || digits.Any(c => c > '7'))
            {
                return false;
            }

            foreach (var c in digits)
            {
                value = (value * 8) + (ulong)(c - '0');
            }

            return true;
        }

        return part.Length <= 10 && ulong.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    private static bool IsHexLabel(string label) =>
        label.Length >= 2 && label[0] == '0' && (label[1] is 'x' or 'X') && label.AsSpan(2).ContainsAnyExcept("0123456789abcdefABCDEF") is false;
}
