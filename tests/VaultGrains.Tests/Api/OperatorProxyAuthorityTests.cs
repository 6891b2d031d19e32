using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Api;

/// <summary>A silo given the operator's proxy CA (ProxyAuthority:CertificateFile and KeyFile).</summary>
public sealed class OperatorProxyAuthorityFixture : ApiFixture
{
    public X509Certificate2 Authority { get; } = TestCertificates.CreateAuthority("Operator proxy CA");

    protected override void ConfigureSettings(Dictionary<string, string?> settings)
    {
        var directory = Directory.CreateTempSubdirectory("operator-ca").FullName;
        var certificateFile = Path.Combine(directory, "ca.pem");
        var keyFile = Path.Combine(directory, "ca.key");
        File.WriteAllText(certificateFile, Authority.ExportCertificatePem());
        File.WriteAllText(keyFile, Authority.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        settings["ProxyAuthority:CertificateFile"] = certificateFile;
        settings["ProxyAuthority:KeyFile"] = keyFile;
    }
}

public sealed class OperatorProxyAuthorityTests(OperatorProxyAuthorityFixture fixture) : IClassFixture<OperatorProxyAuthorityFixture>
{
    [Fact]
    public async Task Agents_are_told_to_trust_the_operators_ca_and_the_proxy_signs_with_its_key()
    {
        var (_, client, _) = await fixture.NewTenantAsync();
        var runtime = await ApiFixture.ReadAsync(await client.PostAsJsonAsync("/api/public/v1/runtimes", new { name = "agent" }));

        var environment = await ApiFixture.ReadAsync(await client.GetAsync($"/api/public/v1/runtimes/{runtime.GetProperty("id").GetString()}/environment"));

        using var told = X509Certificate2.CreateFromPem(environment.GetProperty("ca_certificate").GetString());
        Assert.Equal(fixture.Authority.Thumbprint, told.Thumbprint);
        var grains = fixture.SiloServices.GetService(typeof(IGrainFactory)) as IGrainFactory;
        var signing = await grains!.GetGrain<IProxyAuthorityGrain>(0).GetSigningAuthority();
        Assert.Equal(fixture.Authority.RawData, signing.Certificate);
        Assert.Equal(fixture.Authority.GetECDsaPrivateKey()!.ExportPkcs8PrivateKey(), signing.PrivateKey);
    }
}
