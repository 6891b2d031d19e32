using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using VaultGrains.Proxy.Tls;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Proxy;

/// <summary>
/// The certificate an agent sees inside a tunnel: issued by the proxy CA for exactly the CONNECT
/// host, a day long, minted once per host and renewed before it runs out, and usable by SslStream.
/// </summary>
public sealed class LeafCertificateIssuerTests : IDisposable
{
    private readonly X509Certificate2 _authority = TestCertificates.CreateAuthority("VaultGrains proxy test CA");

    public void Dispose() => _authority.Dispose();

    [Theory]
    [InlineData("api.example.com")]
    [InlineData("a.b.example.com")]
    [InlineData("localhost")]
    public void A_leaf_chains_to_the_authority_and_names_exactly_the_host(string host)
    {
        using var issuer = new LeafCertificateIssuer(_authority, TimeProvider.System);
        var leaf = issuer.GetCertificate(host);

        AssertChainsTo(_authority, leaf);
        Assert.True(leaf.HasPrivateKey);
        Assert.Equal($"CN={host}", leaf.Subject);
        var san = Assert.Single(leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>());
        Assert.Equal(new[] { host }, san.EnumerateDnsNames());
        Assert.Empty(san.EnumerateIPAddresses());
        Assert.True(leaf.MatchesHostname(host));
        Assert.False(leaf.MatchesHostname("other." + host));
    }

    [Fact]
    public void A_leaf_is_a_p256_server_certificate_that_is_not_a_ca()
    {
        using var issuer = new LeafCertificateIssuer(_authority, TimeProvider.System);
        var leaf = issuer.GetCertificate("api.example.com");

        using var key = leaf.GetECDsaPublicKey();
        Assert.NotNull(key);
        Assert.Equal(256, key.KeySize);
        var constraints = Assert.Single(leaf.Extensions.OfType<X509BasicConstraintsExtension>());
        Assert.False(constraints.CertificateAuthority);
        var usages = Assert.Single(leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>()).EnhancedKeyUsages;
        Assert.Equal("1.3.6.1.5.5.7.3.1", Assert.Single(usages.Cast<Oid>()).Value);
        var authorityKeyId = Assert.Single(leaf.Extensions.OfType<X509AuthorityKeyIdentifierExtension>()).KeyIdentifier;
        var subjectKeyId = Assert.Single(_authority.Extensions.OfType<X509SubjectKeyIdentifierExtension>()).SubjectKeyIdentifierBytes;
        Assert.True(authorityKeyId.HasValue);
        Assert.Equal(subjectKeyId.ToArray(), authorityKeyId.Value.ToArray());
        Assert.InRange(leaf.SerialNumberBytes.Length, 16, 17);
        Assert.NotEqual(leaf.SerialNumber, issuer.GetCertificate("other.example.com").SerialNumber);
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("2130706433", "127.0.0.1")]
    [InlineData("[::1]", "::1")]
    [InlineData("2001:db8::5", "2001:db8::5")]
    public void An_ip_literal_host_gets_an_ip_address_san(string host, string address)
    {
        using var issuer = new LeafCertificateIssuer(_authority, TimeProvider.System);
        var leaf = issuer.GetCertificate(host);

        var san = Assert.Single(leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>());
        Assert.Equal(new[] { IPAddress.Parse(address) }, san.EnumerateIPAddresses());
        Assert.Empty(san.EnumerateDnsNames());
        AssertChainsTo(_authority, leaf);
    }

    [Fact]
    public void A_numeric_host_that_is_no_address_gets_no_certificate()
    {
        using var issuer = new LeafCertificateIssuer(_authority, TimeProvider.System);
        Assert.Throws<ArgumentException>(() => issuer.GetCertificate("1.2.3.4.5"));
    }

    [Fact]
    public void Validity_starts_five_minutes_back_and_lasts_a_day()
    {
        using var authority = CreateAuthority(ECDsa.Create(ECCurve.NamedCurves.nistP256), TimeSpan.FromDays(30));
        var now = new DateTimeOffset(DateTime.UtcNow.Year, DateTime.UtcNow.Month, DateTime.UtcNow.Day, 12, 0, 0, TimeSpan.Zero);
        var clock = new ManualClock(now);
        using var issuer = new LeafCertificateIssuer(authority, clock);

        var leaf = issuer.GetCertificate("api.example.com");

        Assert.Equal(now.AddMinutes(-5).UtcDateTime, leaf.NotBefore.ToUniversalTime());
        Assert.Equal(now.AddHours(24).UtcDateTime, leaf.NotAfter.ToUniversalTime());
    }

    [Fact]
    public void A_leaf_never_outlives_the_authority()
    {
        using var issuer = new LeafCertificateIssuer(_authority, new ManualClock(DateTimeOffset.UtcNow.AddHours(20)));
        var leaf = issuer.GetCertificate("api.example.com");
        Assert.Equal(_authority.NotAfter, leaf.NotAfter);
    }

    [Fact]
    public void Leaves_are_cached_per_host_ignoring_case_and_trailing_dot()
    {
        using var issuer = new LeafCertificateIssuer(_authority, TimeProvider.System);
        var first = issuer.GetCertificate("api.example.com");

        Assert.Same(first, issuer.GetCertificate("API.Example.COM"));
        Assert.Same(first, issuer.GetCertificate("api.example.com."));
        Assert.NotSame(first, issuer.GetCertificate("www.example.com"));
        Assert.Same(issuer.GetCertificate("127.0.0.1"), issuer.GetCertificate("0x7f000001"));
        Assert.Equal(3, issuer.MintedCount);
    }

    [Fact]
    public void A_leaf_is_reissued_when_less_than_an_hour_remains()
    {
        using var authority = CreateAuthority(ECDsa.Create(ECCurve.NamedCurves.nistP256), TimeSpan.FromDays(30));
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        using var issuer = new LeafCertificateIssuer(authority, clock);
        var first = issuer.GetCertificate("api.example.com");

        clock.Advance(TimeSpan.FromHours(22.9));
        Assert.Same(first, issuer.GetCertificate("api.example.com"));

        clock.Advance(TimeSpan.FromHours(0.2));
        var renewed = issuer.GetCertificate("api.example.com");
        Assert.NotSame(first, renewed);
        Assert.True(renewed.NotAfter > first.NotAfter);
        Assert.Same(renewed, issuer.GetCertificate("api.example.com"));
        Assert.Equal(2, issuer.MintedCount);
    }

    [Fact]
    public async Task Racing_handshakes_for_one_host_mint_once()
    {
        using var issuer = new LeafCertificateIssuer(_authority, TimeProvider.System);
        using var start = new Barrier(16);
        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() =>
        {
            start.SignalAndWait();
            return issuer.GetCertificate("race.example.com");
        })));

        Assert.All(results, certificate => Assert.Same(results[0], certificate));
        Assert.Equal(1, issuer.MintedCount);
    }

    [Fact]
    public void The_cache_is_bounded()
    {
        using var issuer = new LeafCertificateIssuer(_authority, TimeProvider.System, capacity: 10);
        for (var i = 0; i < 25; i++)
        {
            issuer.GetCertificate($"host{i}.example.com");
        }

        Assert.InRange(issuer.CachedCount, 1, 10);
        Assert.Equal(25, issuer.MintedCount);
    }

    [Fact]
    public void An_rsa_authority_issues_leaves_too()
    {
        using var authority = CreateAuthority(RSA.Create(2048), TimeSpan.FromDays(2));
        using var issuer = new LeafCertificateIssuer(authority, TimeProvider.System);
        AssertChainsTo(authority, issuer.GetCertificate("api.example.com"));
    }

    [Fact]
    public void An_authority_without_its_private_key_is_refused()
    {
        using var publicOnly = X509CertificateLoader.LoadCertificate(_authority.RawData);
        Assert.Throws<ArgumentException>(() => new LeafCertificateIssuer(publicOnly, TimeProvider.System));
    }

    [Fact]
    public async Task SslStream_can_serve_a_leaf_that_a_client_trusting_the_authority_accepts()
    {
        using var issuer = new LeafCertificateIssuer(_authority, TimeProvider.System);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using var accepted = await listener.AcceptTcpClientAsync();

        await using var server = new SslStream(accepted.GetStream());
        await using var agent = new SslStream(client.GetStream());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var serverSide = server.AuthenticateAsServerAsync(
            new SslServerAuthenticationOptions { ServerCertificateSelectionCallback = (_, name) => issuer.GetCertificate(name!) },
            timeout.Token);
        var chainPolicy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        chainPolicy.CustomTrustStore.Add(_authority);
        var clientSide = agent.AuthenticateAsClientAsync(
            new SslClientAuthenticationOptions { TargetHost = "api.example.com", CertificateChainPolicy = chainPolicy },
            timeout.Token);

        await Task.WhenAll(serverSide, clientSide);

        Assert.True(agent.IsAuthenticated);
        Assert.Equal("CN=api.example.com", agent.RemoteCertificate?.Subject);
    }

    private static void AssertChainsTo(X509Certificate2 authority, X509Certificate2 leaf)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.1"));
        var built = chain.Build(leaf);
        Assert.True(built, string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.Equal(2, chain.ChainElements.Count);
        Assert.Equal(authority.Thumbprint, chain.ChainElements[1].Certificate.Thumbprint);
    }

    private static X509Certificate2 CreateAuthority(AsymmetricAlgorithm key, TimeSpan lifetime)
    {
        using (key)
        {
            var request = key switch
            {
                ECDsa ecdsa => new CertificateRequest("CN=VaultGrains long test CA", ecdsa, HashAlgorithmName.SHA256),
                RSA rsa => new CertificateRequest("CN=VaultGrains RSA test CA", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
                _ => throw new ArgumentException("unsupported key", nameof(key)),
            };
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            var now = DateTimeOffset.UtcNow;
            using var created = request.CreateSelfSigned(now.AddDays(-1), now.Add(lifetime));
            return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
        }
    }

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        private DateTimeOffset _now = now;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
