using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace VaultGrains.Proxy.Forwarding;

/// <summary>
/// How the proxy verifies upstream servers: the system roots, plus one optional operator CA. A name
/// mismatch or a missing certificate is never accepted, whoever signed it.
/// </summary>
internal sealed class UpstreamTrust(X509Certificate2? extraAuthority)
{
    public static bool TryLoadAuthority(string path, out X509Certificate2? authority)
    {
        try
        {
            authority = X509CertificateLoader.LoadCertificate(X509Certificate2.CreateFromPem(File.ReadAllText(path)).RawData);
            return true;
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            authority = null;
            return false;
        }
    }

    public bool Validate(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (extraAuthority is null || errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is null)
        {
            return false;
        }

        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.Add(extraAuthority);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.1"));
        if (chain is not null)
        {
            custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
        }

        return custom.Build(leaf);
    }
}
