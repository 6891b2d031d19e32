using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using Orleans.Connections.Security;

namespace VaultGrains.Hosting.ClusterTls;

/// <summary>
/// This process's cluster certificate and the cluster CA, and the TLS settings of each kind of
/// Orleans connection built from them. A peer is trusted when its certificate chains to the
/// cluster CA alone (custom root trust; no system roots) and carries the usage of its role:
/// silos present server and client authentication, clients (API, proxy) client authentication
/// only, so a client's certificate cannot join the silo-to-silo port.
/// </summary>
public sealed class ClusterTlsCredentials : IDisposable
{
    // Handshakes between silos of one cluster on one network: a peer that has not finished in
    // 5 s is not one we want to wait for (Orleans' default is 10 s).
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(5);

    private ClusterTlsCredentials(X509Certificate2 certificate, X509Certificate2Collection intermediates, X509Certificate2Collection authorities)
    {
        Certificate = certificate;
        Intermediates = intermediates;
        Authorities = authorities;
    }

    /// <summary>This process's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    private X509Certificate2Collection Intermediates { get; }

    private X509Certificate2Collection Authorities { get; }

    public static ClusterTlsCredentials Load(IOptions<ClusterTlsOptions> options) => Load(options.Value);

    public static ClusterTlsCredentials Load(ClusterTlsOptions options)
    {
        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(options.CertificateFile!);
        if (chain.Count == 0)
        {
            throw new InvalidDataException($"no certificate in {options.CertificateFile}");
        }

        using var pair = X509Certificate2.CreateFromPemFile(options.CertificateFile!, options.KeyFile);

        // Through PKCS#12, so SslStream can use the private key on every platform.
        var certificate = X509CertificateLoader.LoadPkcs12(pair.Export(X509ContentType.Pkcs12), null);
        var intermediates = new X509Certificate2Collection();
        foreach (var extra in chain.Skip(1))
        {
            intermediates.Add(extra);
        }

        foreach (var leaf in chain.Take(1))
        {
            leaf.Dispose();
        }

        var authorities = new X509Certificate2Collection();
        authorities.ImportFromPemFile(options.CaFile!);
        if (authorities.Count == 0)
        {
            throw new InvalidDataException($"no certificate in {options.CaFile}");
        }

        return new ClusterTlsCredentials(certificate, intermediates, authorities);
    }

    /// <summary>What is wrong with this process's certificate for <paramref name="role"/>, as a message naming the key; null when nothing is.</summary>
    public string? Problem(ClusterRole role)
    {
        if (Authorities.Any(a => a.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true }))
        {
            return "Orleans:Tls:CaFile must hold CA certificates only (basic constraints CA:true).";
        }

        if (!IssuedByClusterAuthority(Certificate, Intermediates))
        {
            return $"Orleans:Tls:CertificateFile ({Certificate.Subject}, valid {Certificate.NotBefore:u} to {Certificate.NotAfter:u}) is not a currently valid certificate issued by the CA in Orleans:Tls:CaFile.";
        }

        string[] usages = role == ClusterRole.Silo ? [KeyUsages.ServerAuth, KeyUsages.ClientAuth] : [KeyUsages.ClientAuth];
        if (!KeyUsages.Has(Certificate, usages))
        {
            return role == ClusterRole.Silo
                ? "Orleans:Tls:CertificateFile of a silo must carry the extended key usages server and client authentication."
                : "Orleans:Tls:CertificateFile of a cluster client must carry the extended key usage client authentication.";
        }

        return null;
    }

    /// <summary>The silo port: only other silos of this cluster.</summary>
    public TlsOptions SiloInbound() => Server(KeyUsages.ServerAuth, KeyUsages.ClientAuth);

    /// <summary>The gateway port: any client of this cluster (the API, the proxy).</summary>
    public TlsOptions GatewayInbound() => Server(KeyUsages.ClientAuth);

    /// <summary>A silo dialling another silo, or a client dialling a gateway: the far end must be a silo of this cluster.</summary>
    public TlsOptions Outbound() => new()
    {
        LocalCertificate = Certificate,
        // Always this certificate, whatever CA names the server asks for.
        LocalClientCertificateSelector = (_, _, _, _, _) => Certificate,
        ClientCertificateMode = RemoteCertificateMode.RequireCertificate,
        RemoteCertificateMode = RemoteCertificateMode.RequireCertificate,
        RemoteCertificateValidation = (certificate, chain, _) => Trusts(certificate, chain, KeyUsages.ServerAuth),
        SslProtocols = SslProtocols.Tls13,
        HandshakeTimeout = HandshakeTimeout,
    };

    private TlsOptions Server(params string[] peerUsages) => new()
    {
        LocalCertificate = Certificate,
        RemoteCertificateMode = RemoteCertificateMode.RequireCertificate,
        RemoteCertificateValidation = (certificate, chain, _) => Trusts(certificate, chain, peerUsages),
        SslProtocols = SslProtocols.Tls13,
        HandshakeTimeout = HandshakeTimeout,
    };

    // SslStream's own policy errors are ignored on purpose: they judge the chain against the
    // system's roots and the name against the address dialled, and silos are dialled by pod
    // address. What identifies a member is this: issued by the cluster CA for its role.
    private bool Trusts(X509Certificate2 certificate, X509Chain? presented, params string[] usages)
    {
        var extra = new X509Certificate2Collection();
        foreach (var element in presented?.ChainElements.Skip(1) ?? [])
        {
            extra.Add(element.Certificate);
        }

        return KeyUsages.Has(certificate, usages) && IssuedByClusterAuthority(certificate, extra);
    }

    private bool IssuedByClusterAuthority(X509Certificate2 certificate, X509Certificate2Collection intermediates)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Authorities);
        chain.ChainPolicy.ExtraStore.AddRange(intermediates);
        // A cluster-internal CA publishes no revocation lists: certificates are short-lived and
        // rotated instead (README, "Cluster TLS").
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        try
        {
            return chain.Build(certificate);
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                if (!ReferenceEquals(element.Certificate, certificate))
                {
                    element.Certificate.Dispose();
                }
            }
        }
    }

    public void Dispose()
    {
        Certificate.Dispose();
        foreach (var certificate in Intermediates.Concat(Authorities))
        {
            certificate.Dispose();
        }
    }
}
