using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using VaultGrains.Silo;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Silo;

/// <summary>The failover settings reach Orleans, and a bad one stops the silo at start with a message naming the key.</summary>
public sealed class SiloSettingsTests
{
    private static IHost Build(params (string Key, string Value)[] overrides)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Development", DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:ConnectionString"] = TestStorage.ConnectionString,
            ["Orleans:Clustering"] = "Localhost",
            ["Encryption:Local:KeyFile"] = Path.Combine(Path.GetTempPath(), "unused-kek.key"),
        });
        builder.Configuration.AddInMemoryCollection(TestClusterTls.Settings("silo"));
        builder.Configuration.AddInMemoryCollection(overrides.Select(o => KeyValuePair.Create(o.Key, (string?)o.Value)));
        builder.AddVaultSilo();
        return builder.Build();
    }

    [Fact]
    public void Membership_settings_reach_orleans()
    {
        using var host = Build(("Orleans:Membership:ProbeTimeout", "00:00:02"), ("Orleans:Membership:NumMissedProbesLimit", "2"));

        var options = host.Services.GetRequiredService<IOptions<ClusterMembershipOptions>>().Value;

        Assert.Equal(TimeSpan.FromSeconds(2), options.ProbeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(1), options.MinProbeTimeout);
        Assert.Equal(2, options.NumMissedProbesLimit);
        Assert.Equal(TimeSpan.FromSeconds(20), options.DeathVoteExpirationTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), options.IAmAliveTablePublishTimeout);
    }

    [Theory]
    [InlineData("Orleans:Membership:ProbeTimeout", "00:00:00.05", "Orleans:Membership:ProbeTimeout must be between")]
    [InlineData("Orleans:Membership:NumMissedProbesLimit", "0", "Orleans:Membership:NumMissedProbesLimit must be between 1 and 10")]
    [InlineData("Orleans:Membership:DeathVoteExpirationTimeout", "00:00:05", "Orleans:Membership:DeathVoteExpirationTimeout must be longer than")]
    [InlineData("Health:Port", "70000", "Health:Port must be a TCP port")]
    [InlineData("Storage:NetworkTimeout", "00:00:00.1", "Storage:NetworkTimeout must be between")]
    [InlineData("ProxyAuthority:CertificateFile", "/nonexistent/ca.pem", "ProxyAuthority:CertificateFile and ProxyAuthority:KeyFile go together")]
    [InlineData("Orleans:Tls:CertificateFile", "", "Orleans:Tls:CertificateFile is required: every Orleans connection is mutual TLS")]
    [InlineData("Orleans:Tls:KeyFile", "", "Orleans:Tls:KeyFile is required")]
    [InlineData("Orleans:Tls:CaFile", "/nonexistent/ca.pem", "Orleans:Tls:CaFile: no file at /nonexistent/ca.pem")]
    public async Task A_bad_setting_stops_the_silo_naming_the_key(string key, string value, string message)
    {
        Exception? failure = null;
        try
        {
            using var host = Build((key, value));
            await host.StartAsync();
            await host.StopAsync();
        }
        catch (Exception e)
        {
            failure = e;
        }

        var validation = Assert.IsType<OptionsValidationException>(failure);
        Assert.Contains(message, validation.Message);
    }

    [Fact]
    public async Task An_operator_proxy_ca_whose_files_are_missing_stops_the_silo_naming_the_key()
    {
        var failure = await Record.ExceptionAsync(async () =>
        {
            using var host = Build(("ProxyAuthority:CertificateFile", "/nonexistent/ca.pem"), ("ProxyAuthority:KeyFile", "/nonexistent/ca.key"));
            await host.StartAsync();
            await host.StopAsync();
        });

        var validation = Assert.IsType<OptionsValidationException>(failure);
        Assert.Contains("ProxyAuthority:CertificateFile: no file at /nonexistent/ca.pem", validation.Message);
        Assert.Contains("ProxyAuthority:KeyFile: no file at /nonexistent/ca.key", validation.Message);
    }

    [Fact]
    public async Task A_certificate_of_another_ca_a_client_certificate_or_a_mismatched_key_stops_the_silo_naming_the_key()
    {
        var other = TestClusterTls.NewDirectory();
        var mine = TestClusterTls.Directory;

        var foreign = await StartFailureAsync(("Orleans:Tls:CertificateFile", Path.Combine(other, "silo.pem")), ("Orleans:Tls:KeyFile", Path.Combine(other, "silo.key")));
        var clientOnly = await StartFailureAsync(("Orleans:Tls:CertificateFile", Path.Combine(mine, "api.pem")), ("Orleans:Tls:KeyFile", Path.Combine(mine, "api.key")));
        var mismatched = await StartFailureAsync(("Orleans:Tls:KeyFile", Path.Combine(mine, "api.key")));

        Assert.Contains("Orleans:Tls:CertificateFile (CN=vaultgrains-silo", foreign);
        Assert.Contains("is not a currently valid certificate issued by the CA in Orleans:Tls:CaFile", foreign);
        Assert.Contains("Orleans:Tls:CertificateFile of a silo must carry the extended key usages server and client authentication", clientOnly);
        Assert.Contains("Orleans:Tls:CertificateFile, KeyFile and CaFile must be PEM files", mismatched);
        Assert.DoesNotContain("PRIVATE KEY", foreign + clientOnly + mismatched);
    }

    [Fact]
    public async Task Unsafe_plaintext_is_the_only_way_to_start_without_certificates_and_it_says_so()
    {
        var logs = new CapturedLogs();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Development", DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:ConnectionString"] = TestStorage.ConnectionString,
            ["Orleans:Clustering"] = "Localhost",
            ["Orleans:SiloPort"] = $"{TestStorage.FreePort()}",
            ["Orleans:GatewayPort"] = $"{TestStorage.FreePort()}",
            ["Encryption:Local:KeyFile"] = Path.Combine(Directory.CreateTempSubdirectory("vaultgrains-key").FullName, "kek.key"),
            ["Orleans:Tls:UnsafePlaintext"] = "true",
        });
        builder.Logging.AddProvider(logs);
        builder.AddVaultSilo();
        using var host = builder.Build();

        await host.StartAsync();
        await host.StopAsync();

        Assert.Contains(logs.Lines, line => line.StartsWith("Warning ", StringComparison.Ordinal) && line.Contains("Orleans:Tls:UnsafePlaintext is set", StringComparison.Ordinal));
    }

    private static async Task<string> StartFailureAsync(params (string Key, string Value)[] overrides)
    {
        var failure = await Record.ExceptionAsync(async () =>
        {
            using var host = Build(overrides);
            await host.StartAsync();
            await host.StopAsync();
        });
        return Assert.IsType<OptionsValidationException>(failure).Message;
    }
}
