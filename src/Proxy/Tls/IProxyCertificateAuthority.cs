using System.Security.Cryptography.X509Certificates;

namespace VaultGrains.Proxy.Tls;

/// <summary>
/// The deployment's proxy CA, which signs the leaf certificates the proxy presents inside tunnels
/// (agents trust it through the runtime environment's <c>ca_certificate</c>).
/// </summary>
public interface IProxyCertificateAuthority
{
    /// <summary>The CA certificate with its private key. The proxy re-asks per handshake and re-issues leaves when it changes.</summary>
    ValueTask<X509Certificate2> GetAuthorityAsync(CancellationToken cancellationToken);
}
