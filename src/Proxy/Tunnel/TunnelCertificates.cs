using System.Security.Cryptography.X509Certificates;
using VaultGrains.Proxy.Tls;

namespace VaultGrains.Proxy.Tunnel;

/// <summary>
/// The leaf certificates presented inside tunnels, from the deployment's current proxy CA: the CA is
/// asked on every handshake and a new issuer takes over when the CA changes.
/// </summary>
internal sealed class TunnelCertificates(IProxyCertificateAuthority authority, TimeProvider clock) : IDisposable
{
    private readonly Lock gate = new();
    private readonly List<LeafCertificateIssuer> retired = [];
    private LeafCertificateIssuer? issuer;
    private string? issuerAuthority;

    public async ValueTask<X509Certificate2> GetCertificateAsync(string host, CancellationToken cancellationToken)
    {
        var current = await authority.GetAuthorityAsync(cancellationToken).ConfigureAwait(false);
        LeafCertificateIssuer active;
        lock (gate)
        {
            if (issuer is null || issuerAuthority != current.Thumbprint)
            {
                // The old issuer's leaves may be mid-handshake; it is disposed with this object.
                if (issuer is not null)
                {
                    retired.Add(issuer);
                }

                issuer = new LeafCertificateIssuer(current, clock);
                issuerAuthority = current.Thumbprint;
            }

            active = issuer;
        }

        return active.GetCertificate(host);
    }

    public void Dispose()
    {
        lock (gate)
        {
            issuer?.Dispose();
            retired.ForEach(old => old.Dispose());
            retired.Clear();
            issuer = null;
        }
    }
}
