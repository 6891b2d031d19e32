using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace VaultGrains.Hosting.ClusterTls;

/// <summary>
/// A local cluster CA and one certificate per component, as PEM files in one directory (what
/// ./run.sh uses; a deployment brings its own from Kubernetes secrets). Made on first use, kept
/// afterwards; a leaf within <see cref="RenewBefore"/> of its end is issued again by the same CA.
/// Private keys are written owner-only.
/// </summary>
public static class ClusterCertificates
{
    public const string Authority = "ca";

    /// <summary>The certificates made beside the CA: the silo's (server and client authentication), the API's and the proxy's (client only).</summary>
    public static readonly IReadOnlyDictionary<string, ClusterRole> Components = new Dictionary<string, ClusterRole>
    {
        ["silo"] = ClusterRole.Silo,
        ["api"] = ClusterRole.Client,
        ["proxy"] = ClusterRole.Client,
    };

    private static readonly TimeSpan AuthorityLifetime = TimeSpan.FromDays(3650);
    private static readonly TimeSpan LeafLifetime = TimeSpan.FromDays(365);
    private static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    public static string CertificatePath(string directory, string name) => Path.Combine(directory, name + ".pem");

    public static string KeyPath(string directory, string name) => Path.Combine(directory, name + ".key");

    /// <summary>The settings that make a process use the certificate <paramref name="name"/> of <paramref name="directory"/>.</summary>
    public static ClusterTlsOptions Options(string directory, string name) => new()
    {
        CertificateFile = CertificatePath(directory, name),
        KeyFile = KeyPath(directory, name),
        CaFile = CertificatePath(directory, Authority),
    };

    /// <summary>Makes whatever is missing or due in <paramref name="directory"/>; returns the names of the files written.</summary>
    public static IReadOnlyList<string> Ensure(string directory, TimeProvider? clock = null)
    {
        var now = (clock ?? TimeProvider.System).GetUtcNow();
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        using var authority = LoadAuthority(directory, now) ?? CreateAuthority(directory, now, written);
        foreach (var (name, role) in Components)
        {
            if (!IsCurrent(directory, name, authority, now))
            {
                CreateLeaf(directory, name, role, authority, now);
                written.Add(name);
            }
        }

        return written;
    }

    private static X509Certificate2? LoadAuthority(string directory, DateTimeOffset now)
    {
        var certificate = CertificatePath(directory, Authority);
        var key = KeyPath(directory, Authority);
        if (!File.Exists(certificate) || !File.Exists(key))
        {
            return null;
        }

        var loaded = X509Certificate2.CreateFromPemFile(certificate, key);
        if (loaded.NotAfter.ToUniversalTime() - RenewBefore < now.UtcDateTime)
        {
            loaded.Dispose();
            return null;
        }

        return loaded;
    }

    private static X509Certificate2 CreateAuthority(string directory, DateTimeOffset now, List<string> written)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=VaultGrains cluster CA {now:yyyy-MM-dd}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var authority = request.CreateSelfSigned(now.AddMinutes(-5), now + AuthorityLifetime);
        Write(directory, Authority, authority, key);
        written.Add(Authority);

        // A new CA: every leaf of the old one is void.
        foreach (var name in Components.Keys)
        {
            File.Delete(CertificatePath(directory, name));
        }

        return authority;
    }

    private static bool IsCurrent(string directory, string name, X509Certificate2 authority, DateTimeOffset now)
    {
        if (!File.Exists(CertificatePath(directory, name)) || !File.Exists(KeyPath(directory, name)))
        {
            return false;
        }

        try
        {
            using var leaf = X509Certificate2.CreateFromPemFile(CertificatePath(directory, name), KeyPath(directory, name));
            return leaf.Issuer == authority.Subject && leaf.NotAfter.ToUniversalTime() - RenewBefore > now.UtcDateTime;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static void CreateLeaf(string directory, string name, ClusterRole role, X509Certificate2 authority, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=vaultgrains-{name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        var usages = new OidCollection { new Oid(KeyUsages.ClientAuth) };
        if (role == ClusterRole.Silo)
        {
            usages.Add(new Oid(KeyUsages.ServerAuth));
        }

        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var notAfter = now + LeafLifetime < authority.NotAfter.ToUniversalTime() ? now + LeafLifetime : new DateTimeOffset(authority.NotAfter.ToUniversalTime());
        using var leaf = request.Create(authority, now.AddMinutes(-5), notAfter, RandomNumberGenerator.GetBytes(16));
        Write(directory, name, leaf, key);
    }

    private static void Write(string directory, string name, X509Certificate2 certificate, ECDsa key)
    {
        var keyPath = KeyPath(directory, name);
        File.Delete(keyPath);
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var file = new FileStream(keyPath, create))
        using (var writer = new StreamWriter(file))
        {
            writer.Write(key.ExportPkcs8PrivateKeyPem());
            writer.Write('\n');
        }

        File.WriteAllText(CertificatePath(directory, name), certificate.ExportCertificatePem() + "\n");
    }
}
