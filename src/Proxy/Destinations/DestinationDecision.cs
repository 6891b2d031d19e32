using System.Net;

namespace VaultGrains.Proxy.Destinations;

/// <summary>
/// Whether the proxy may open a tunnel to a destination, and if so the checked addresses it must
/// connect to (connecting to anything else would let a second DNS answer bypass the check).
/// </summary>
/// <param name="Allowed">True when every address passed.</param>
/// <param name="Addresses">The checked addresses when allowed; empty when refused.</param>
/// <param name="Refusal">When refused: <c>port_not_allowed</c>, <c>not_public</c> or <c>unresolved</c>.</param>
public sealed record DestinationDecision(bool Allowed, IReadOnlyList<IPAddress> Addresses, string? Refusal)
{
    /// <summary>The port is not one the operator allowed.</summary>
    public const string PortNotAllowed = "port_not_allowed";

    /// <summary>At least one address is loopback, private, link-local or otherwise not public.</summary>
    public const string NotPublic = "not_public";

    /// <summary>The host gave no address (or is a numeric host that is no valid address).</summary>
    public const string Unresolved = "unresolved";

    internal static DestinationDecision Allow(IReadOnlyList<IPAddress> addresses) => new(true, addresses, null);

    internal static DestinationDecision Refuse(string refusal) => new(false, [], refusal);
}
