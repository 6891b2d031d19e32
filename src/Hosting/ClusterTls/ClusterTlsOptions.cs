using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace VaultGrains.Hosting.ClusterTls;

/// <summary>
/// Mutual TLS on every Orleans connection (section <c>Orleans:Tls</c>): silo to silo and client to
/// gateway. Each process presents its own certificate and accepts only peers whose certificate the
/// cluster CA issued; the system's trusted roots play no part.
/// </summary>
public sealed class ClusterTlsOptions
{
    public const string Section = "Orleans:Tls";

    /// <summary>PEM: this process's certificate (the leaf first; intermediates may follow).</summary>
    public string? CertificateFile { get; set; }

    /// <summary>PEM: the private key of <see cref="CertificateFile"/> (PKCS#8, PKCS#1 or SEC1).</summary>
    public string? KeyFile { get; set; }

    /// <summary>PEM: the cluster CA, the only trust anchor for peers.</summary>
    public string? CaFile { get; set; }

    /// <summary>
    /// Orleans traffic in clear with no authentication: anyone who reaches a silo or gateway port
    /// can call every grain. Only for a network that already authenticates and encrypts every
    /// connection between these pods (a service mesh's mTLS). Off unless set to <c>true</c>.
    /// </summary>
    public bool UnsafePlaintext { get; set; }
}

/// <summary>Which certificate a process needs: a silo both serves and dials; a client only dials.</summary>
public enum ClusterRole
{
    Silo,
    Client,
}

internal sealed class ClusterTlsOptionsValidator(ClusterRole role) : IValidateOptions<ClusterTlsOptions>
{
    private const string OptOut = "Orleans:Tls:UnsafePlaintext=true turns mutual TLS off (see README, \"Cluster TLS\"; unsafe)";

    public ValidateOptionsResult Validate(string? name, ClusterTlsOptions options)
    {
        if (options.UnsafePlaintext)
        {
            return ValidateOptionsResult.Success;
        }

        var failures = new List<string>();
        foreach (var (key, path) in new[] { ("CertificateFile", options.CertificateFile), ("KeyFile", options.KeyFile), ("CaFile", options.CaFile) })
        {
            if (string.IsNullOrWhiteSpace(path))
            {
                failures.Add($"Orleans:Tls:{key} is required: every Orleans connection is mutual TLS ({OptOut}).");
            }
            else if (!File.Exists(path))
            {
                failures.Add($"Orleans:Tls:{key}: no file at {path}.");
            }
        }

        if (failures.Count > 0)
        {
            return ValidateOptionsResult.Fail(failures);
        }

        try
        {
            using var credentials = ClusterTlsCredentials.Load(options);
            if (credentials.Problem(role) is { } problem)
            {
                failures.Add(problem);
            }
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or InvalidDataException)
        {
            // The exception text names the format problem only; no key material is in it.
            failures.Add($"Orleans:Tls:CertificateFile, KeyFile and CaFile must be PEM files of a certificate, its private key and the CA: {e.Message}");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>The object identifiers of the extended key usages the cluster's certificates carry.</summary>
internal static class KeyUsages
{
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    public const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    public static bool Has(X509Certificate2 certificate, params string[] required)
    {
        var usages = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().SelectMany(e => e.EnhancedKeyUsages.Cast<Oid>()).Select(o => o.Value).ToHashSet();
        return required.All(usages.Contains);
    }
}
