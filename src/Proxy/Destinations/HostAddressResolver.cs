using System.Net;
using System.Net.Sockets;

namespace VaultGrains.Proxy.Destinations;

/// <summary>Turns a host name into the addresses the proxy may connect to.</summary>
public interface IHostAddressResolver
{
    /// <summary>The addresses for <paramref name="host"/>; empty when the name does not resolve.</summary>
    ValueTask<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken);
}

/// <summary>The system resolver (<see cref="Dns"/>).</summary>
public sealed class DnsHostAddressResolver : IHostAddressResolver
{
    /// <inheritdoc />
    public async ValueTask<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        try
        {
            return await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            // NXDOMAIN, no data, resolver failure: the caller refuses the destination as unresolved.
            return [];
        }
        catch (ArgumentException)
        {
            // Names the resolver will not even look up (too long, bad characters).
            return [];
        }
    }
}
