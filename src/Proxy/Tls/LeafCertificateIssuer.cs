using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using VaultGrains.Proxy.Destinations;

namespace VaultGrains.Proxy.Tls;

/// <summary>
/// Mints the certificate the proxy presents to an agent inside a tunnel: an ECDSA P-256 leaf for
/// exactly the CONNECT host, signed by the deployment's proxy CA, valid for a day. Leaves are cached
/// per host and minted once even when many handshakes for the same host race.
/// </summary>
public sealed class LeafCertificateIssuer : IDisposable
{
    /// <summary>How many hosts keep a cached leaf; past this the oldest tenth is dropped.</summary>
    public const int DefaultCapacity = 10_000;

    private static readonly TimeSpan Backdate = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);
    private static readonly TimeSpan RenewBefore = TimeSpan.FromHours(1);
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    private readonly X509Certificate2 _authority;
    private readonly TimeProvider _clock;
    private readonly int _capacity;
    private readonly X509SignatureGenerator _signer;
    private readonly AsymmetricAlgorithm _authorityKey;
    private readonly X509AuthorityKeyIdentifierExtension _authorityKeyIdentifier;
    private readonly DateTimeOffset _authorityNotBefore;
    private readonly DateTimeOffset _authorityNotAfter;
    private readonly ConcurrentDictionary<string, Lazy<IssuedLeaf>> _leaves = new(StringComparer.Ordinal);
    private readonly Lock _signing = new();
    private readonly Lock _eviction = new();
    private bool _disposed;
    private int _minted;

    /// <summary>Creates an issuer for a CA certificate that carries its ECDSA or RSA private key.</summary>
    public LeafCertificateIssuer(X509Certificate2 authority, TimeProvider clock)
        : this(authority, clock, DefaultCapacity)
    {
    }

    /// <summary>Creates an issuer with a given cache bound (tests use a small one).</summary>
    public LeafCertificateIssuer(X509Certificate2 authority, TimeProvider clock, int capacity)
    {
        ArgumentNullException.ThrowIfNull(authority);
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _authority = authority;
        _clock = clock;
        _capacity = capacity;
        if (authority.GetECDsaPrivateKey() is { } ecdsa)
        {
            _authorityKey = ecdsa;
            _signer = X509SignatureGenerator.CreateForECDsa(ecdsa);
        }
        else if (authority.GetRSAPrivateKey() is { } rsa)
        {
            _authorityKey = rsa;
            _signer = X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1);
        }
        else
        {
            throw new ArgumentException("The proxy CA certificate has no ECDSA or RSA private key.", nameof(authority));
        }

        _authorityKeyIdentifier = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false);
        _authorityNotBefore = new DateTimeOffset(authority.NotBefore.ToUniversalTime());
        _authorityNotAfter = new DateTimeOffset(authority.NotAfter.ToUniversalTime());
    }

    /// <summary>How many hosts have a cached leaf now.</summary>
    public int CachedCount => _leaves.Count;

    /// <summary>How many leaves this issuer has minted (tests check that racing handshakes mint once).</summary>
    internal int MintedCount => Volatile.Read(ref _minted);

    /// <summary>
    /// The leaf for <paramref name="host"/> (a name, or an IP literal in any form
    /// <see cref="DestinationPolicy.TryParseIpLiteral"/> reads), with its private key, usable by
    /// <see cref="System.Net.Security.SslStream"/>. The caller must not dispose it: it is shared.
    /// </summary>
    public X509Certificate2 GetCertificate(string host)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var key = NormalizeHost(host);
        while (true)
        {
            if (!_leaves.TryGetValue(key, out var lazy))
            {
                EvictWhenFull();
                lazy = _leaves.GetOrAdd(key, NewLeaf);
            }

            var leaf = Materialize(key, lazy);
            if (!NeedsRenewal(leaf))
            {
                return leaf.Certificate;
            }

            // Only the caller that swaps in the new Lazy mints; racing callers see the swap and wait on it.
            // The old certificate is not disposed: a handshake may still be using it.
            var renewed = NewLeaf(key);
            if (_leaves.TryUpdate(key, renewed, lazy))
            {
                return Materialize(key, renewed).Certificate;
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var lazy in _leaves.Values)
        {
            if (lazy.IsValueCreated)
            {
                lazy.Value.Certificate.Dispose();
            }
        }

        _leaves.Clear();
        _authorityKey.Dispose();
    }

    private Lazy<IssuedLeaf> NewLeaf(string host) => new(() => Mint(host), LazyThreadSafetyMode.ExecutionAndPublication);

    private IssuedLeaf Materialize(string key, Lazy<IssuedLeaf> lazy)
    {
        try
        {
            return lazy.Value;
        }
        catch
        {
            // A Lazy caches its exception; drop it so the next handshake tries again.
            _leaves.TryRemove(new KeyValuePair<string, Lazy<IssuedLeaf>>(key, lazy));
            throw;
        }
    }

    private bool NeedsRenewal(IssuedLeaf leaf)
    {
        var now = _clock.GetUtcNow();
        // A leaf cut short by the CA's own expiry cannot be renewed into a longer one: keep it.
        return leaf.NotAfter - now < RenewBefore && leaf.NotAfter < _authorityNotAfter;
    }

    private void EvictWhenFull()
    {
        if (_leaves.Count < _capacity)
        {
            return;
        }

        lock (_eviction)
        {
            if (_leaves.Count < _capacity)
            {
                return;
            }

            // Oldest first; leaves still being minted are left alone. Evicted certificates are not
            // disposed, for the same reason as renewed ones.
            var excess = _leaves.Count - _capacity + Math.Max(1, _capacity / 10);
            var oldest = _leaves
                .Where(pair => pair.Value.IsValueCreated)
                .OrderBy(pair => pair.Value.Value.NotBefore)
                .Take(excess)
                .ToList();
            foreach (var pair in oldest)
            {
                _leaves.TryRemove(pair);
            }
        }
    }

    private IssuedLeaf Mint(string host)
    {
        var now = _clock.GetUtcNow();
        var notBefore = Max(now - Backdate, _authorityNotBefore);
        var notAfter = Min(now + Lifetime, _authorityNotAfter);
        if (notAfter <= now)
        {
            throw new InvalidOperationException("The proxy CA certificate has expired; no leaf can be issued.");
        }

        Interlocked.Increment(ref _minted);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName(host);
        var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);

        var san = new SubjectAlternativeNameBuilder();
        if (DestinationPolicy.IsIpLiteral(host))
        {
            if (!DestinationPolicy.TryParseIpLiteral(host, out var address))
            {
                throw new ArgumentException("The host is numeric but not an IP address.", nameof(host));
            }

            san.AddIpAddress(address);
        }
        else
        {
            san.AddDnsName(host);
        }

        request.CertificateExtensions.Add(san.Build(critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuthentication], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(_authorityKeyIdentifier);

        X509Certificate2 issued;
        lock (_signing)
        {
            // The CA key object is not documented as safe for concurrent use; minting is rare.
            issued = request.Create(_authority.SubjectName, _signer, notBefore, notAfter, RandomNumberGenerator.GetBytes(16));
        }

        using (issued)
        using (var withKey = issued.CopyWithPrivateKey(key))
        {
            // Through PKCS#12 so the key is a platform key SslStream can use everywhere
            // (an ephemeral CNG key fails in Schannel; on Linux the round trip is cheap).
            var certificate = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
            return new IssuedLeaf(certificate, notBefore, notAfter);
        }
    }

    private static string NormalizeHost(string host)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        var name = host.Trim();
        if (name.StartsWith('[') && name.EndsWith(']'))
        {
            name = name[1..^1];
        }

        if (DestinationPolicy.TryParseIpLiteral(name, out var address))
        {
            // 127.1, 0x7f000001 and 127.0.0.1 are one destination and get one certificate.
            return address.ToString().ToLowerInvariant();
        }

        return DestinationOptions.NormalizeName(name);
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private sealed record IssuedLeaf(X509Certificate2 Certificate, DateTimeOffset NotBefore, DateTimeOffset NotAfter);
}
