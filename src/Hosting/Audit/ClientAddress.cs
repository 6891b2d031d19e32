using System.Net;
using System.Net.Sockets;

namespace VaultGrains.Hosting.Audit;

/// <summary>How a client is named where failed authentications are counted: the API's limit per address and the audit trail's summaries.</summary>
public static class ClientAddress
{
    /// <summary>A connection without an address (an in-process test server).</summary>
    public const string Unknown = "unknown";

    /// <summary>IPv4 as it is (also when mapped into IPv6); IPv6 per /64, which is what one client usually holds.</summary>
    public static string Of(IPAddress? address) => address switch
    {
        null => Unknown,
        { IsIPv4MappedToIPv6: true } mapped => mapped.MapToIPv4().ToString(),
        { AddressFamily: AddressFamily.InterNetworkV6 } v6 => Prefix64(v6),
        var v4 => v4.ToString(),
    };

    private static string Prefix64(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }
}
