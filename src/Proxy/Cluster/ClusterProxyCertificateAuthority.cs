using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using VaultGrains.Proxy.Tls;

namespace VaultGrains.Proxy.Cluster;

/// <summary>The deployment's proxy CA, fetched once from the cluster (which keeps its key only encrypted) and held in memory.</summary>
internal sealed class ClusterProxyCertificateAuthority(IGrainFactory grains) : IProxyCertificateAuthority
{
    private Task<X509Certificate2>? authority;

    public async ValueTask<X509Certificate2> GetAuthorityAsync(CancellationToken cancellationToken)
    {
        // A failed fetch is asked again by the next handshake.
        var fetch = authority is { IsFaulted: false, IsCanceled: false } ? authority : authority = FetchAsync();
        return await fetch.WaitAsync(cancellationToken);
    }

    private async Task<X509Certificate2> FetchAsync()
    {
        var signing = await grains.GetGrain<IProxyAuthorityGrain>(0).GetSigningAuthority();
        using var certificate = X509CertificateLoader.LoadCertificate(signing.Certificate);
        X509Certificate2 withKey;
        if (certificate.GetKeyAlgorithm() == "1.2.840.10045.2.1")
        {
            using var key = ECDsa.Create();
            key.ImportPkcs8PrivateKey(signing.PrivateKey, out _);
            withKey = certificate.CopyWithPrivateKey(key);
        }
        else
        {
            using var key = RSA.Create();
            key.ImportPkcs8PrivateKey(signing.PrivateKey, out _);
            withKey = certificate.CopyWithPrivateKey(key);
        }

        using (withKey)
        {
            // Through PKCS#12 so the key is usable by SslStream on every platform.
            return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);
        }
    }
}
