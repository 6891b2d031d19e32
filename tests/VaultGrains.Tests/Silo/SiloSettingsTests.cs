using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
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
}
