using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using VaultGrains.Grains.Crypto;

namespace VaultGrains.Grains;

[GenerateSerializer, Alias("VaultGrains.Grains.ProxyAuthorityState")]
internal sealed class ProxyAuthorityState
{
    [Id(0)] public byte[]? Certificate { get; set; }
    [Id(1)] public WrappedKey? KeyEncryptionKey { get; set; }
    [Id(2)] public EncryptedValue? PrivateKey { get; set; }
}

/// <summary>Where the secret proxy's CA comes from (section <c>ProxyAuthority</c>): generated and stored encrypted, unless an operator supplies one.</summary>
public sealed class ProxyAuthorityOptions
{
    public const string Section = "ProxyAuthority";

    /// <summary>The operator's CA certificate (PEM). With <see cref="KeyFile"/>; neither: the cluster makes its own CA.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>The operator's CA private key (PEM, PKCS#8, unencrypted; mount it as a secret).</summary>
    public string? KeyFile { get; set; }
}

/// <summary>
/// The proxy's certificate authority. Made once for the whole service on first use: an ECDSA P-256
/// CA whose private key is stored only encrypted, under a key wrapped by the key-encryption key
/// (the same envelope as a secret value). Two activations racing to make it are settled by the
/// storage ETag: the loser reads and uses the winner's.
/// </summary>
internal sealed class ProxyAuthorityGrain(
    [PersistentState("proxyauthority", StorageNames.Runtimes)] IPersistentState<ProxyAuthorityState> storage,
    VaultKeyProtector keyProtector,
    IOptions<ProxyAuthorityOptions> options,
    TimeProvider clock,
    ILogger<ProxyAuthorityGrain> logger) : Grain, IProxyAuthorityGrain
{
    private static readonly SecretBinding Binding = new("service", "proxy-authority", "ca-private-key", 1);
    private static readonly TimeSpan Validity = TimeSpan.FromDays(5 * 365);
    private ProxyAuthority? authority;

    public async Task<string> GetCertificatePem()
    {
        var certificate = (await GetSigningAuthority()).Certificate;
        return PemEncoding.WriteString("CERTIFICATE", certificate) + "\n";
    }

    public async Task<ProxyAuthority> GetSigningAuthority() => authority ??= await LoadAsync();

    private async Task<ProxyAuthority> LoadAsync()
    {
        if (options.Value is { CertificateFile: { Length: > 0 } certificateFile, KeyFile: { Length: > 0 } keyFile })
        {
            using var supplied = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
            return new ProxyAuthority(supplied.RawData, ExportPrivateKey(supplied));
        }

        if (storage.State.Certificate is null)
        {
            await CreateAsync();
        }

        return await DecryptAsync(storage.State);
    }

    private async Task CreateAsync()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=VaultGrains secret proxy CA, O=VaultGrains", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = clock.GetUtcNow();
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.Add(Validity));
        var privateKey = key.ExportPkcs8PrivateKey();
        try
        {
            using var wrappingKey = VaultKey.Generate(out var keyBytes);
            try
            {
                storage.State.KeyEncryptionKey = await keyProtector.WrapAsync(keyBytes, CancellationToken.None);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(keyBytes);
            }

            storage.State.Certificate = certificate.RawData;
            storage.State.PrivateKey = SecretCipher.Encrypt(wrappingKey, Binding, Convert.ToBase64String(privateKey));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(privateKey);
        }

        try
        {
            await storage.WriteStateAsync();
            logger.LogInformation("Secret proxy CA created (expires {NotAfter:yyyy-MM-dd})", certificate.NotAfter);
        }
        catch (Exception e)
        {
            // Another activation stored its CA first (or the write's outcome is unknown): use what storage holds.
            logger.LogWarning("Secret proxy CA not stored ({Error}); reading the stored one", e.GetType().Name);
            await storage.ReadStateAsync();
            if (storage.State.Certificate is null)
            {
                throw;
            }
        }
    }

    private async Task<ProxyAuthority> DecryptAsync(ProxyAuthorityState state)
    {
        var keyBytes = await keyProtector.UnwrapAsync(state.KeyEncryptionKey!, CancellationToken.None);
        using var wrappingKey = VaultKey.FromBytes(keyBytes);
        var privateKey = Convert.FromBase64String(SecretCipher.Decrypt(wrappingKey, Binding, state.PrivateKey!));
        return new ProxyAuthority(state.Certificate!, privateKey);
    }

    private static byte[] ExportPrivateKey(X509Certificate2 certificate) =>
        certificate.GetECDsaPrivateKey()?.ExportPkcs8PrivateKey()
        ?? certificate.GetRSAPrivateKey()?.ExportPkcs8PrivateKey()
        ?? throw new InvalidOperationException($"{ProxyAuthorityOptions.Section}:KeyFile holds no ECDSA or RSA private key.");
}
