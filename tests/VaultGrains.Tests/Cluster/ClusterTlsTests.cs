using System.Net;
using System.Security.Cryptography;
using System.Text;
using Orleans.TestingHost;
using VaultGrains.Hosting.ClusterTls;
using VaultGrains.Tests.Cli;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Cluster;

/// <summary>
/// Every Orleans connection is mutual TLS against the cluster CA: whoever reaches a gateway or
/// silo port without a certificate of this cluster calls no grain at all, and what members send
/// each other is encrypted. The same checks run against a TestCluster and against a silo process
/// started as ./run.sh starts it, with certificates made by the same command.
/// </summary>
public abstract class ClusterTlsContract
{
    protected static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    protected abstract IPEndPoint Gateway { get; }

    protected abstract IPEndPoint SiloPort { get; }

    protected abstract string ClusterId { get; }

    protected abstract string ServiceId { get; }

    /// <summary>Where this cluster's CA and certificates are.</summary>
    protected abstract string Certificates { get; }

    [Fact]
    public async Task A_client_with_a_cluster_certificate_calls_grains()
    {
        var failure = await ClusterAccess.CallGrainsAsync(Gateway, ClusterId, ServiceId, ClusterAccess.Member(Certificates), Limit);

        Assert.Null(failure);
    }

    [Fact]
    public async Task A_client_without_a_certificate_cannot_call_any_grain()
    {
        var failure = await ClusterAccess.CallGrainsAsync(Gateway, ClusterId, ServiceId, ClusterAccess.Intruder(null), Limit);

        Assert.NotNull(failure);
    }

    [Fact]
    public async Task A_client_with_a_certificate_of_another_ca_cannot_call_any_grain()
    {
        var other = TestClusterTls.NewDirectory();
        using var foreign = ClusterAccess.LoadCertificate(other, "api");

        var asIntruder = await ClusterAccess.CallGrainsAsync(Gateway, ClusterId, ServiceId, ClusterAccess.Intruder(foreign), Limit);
        var asMemberOfAnother = await ClusterAccess.CallGrainsAsync(Gateway, ClusterId, ServiceId, ClusterAccess.Member(other), Limit);

        Assert.NotNull(asIntruder);
        Assert.NotNull(asMemberOfAnother);
    }

    [Fact]
    public async Task A_plaintext_client_cannot_call_any_grain()
    {
        var failure = await ClusterAccess.CallGrainsAsync(Gateway, ClusterId, ServiceId, ClusterAccess.Plaintext(), Limit);

        Assert.NotNull(failure);
    }

    [Fact]
    public async Task Plain_bytes_on_the_gateway_and_silo_ports_get_nothing_but_a_close()
    {
        // The start of an Orleans connection preamble (a length, then the frame) in clear.
        byte[] preamble = [.. BitConverter.GetBytes(64), .. new byte[64]];

        foreach (var endpoint in new[] { Gateway, SiloPort })
        {
            var (answer, closed) = await ClusterAccess.SendPlainAsync(endpoint, preamble, TimeSpan.FromSeconds(10));

            Assert.True(closed, $"{endpoint} kept a plaintext connection open");
            // Nothing, or a TLS alert record (content type 21): never an Orleans preamble.
            Assert.True(answer.Length == 0 || answer[0] == 21, $"{endpoint} answered {Convert.ToHexString(answer.AsSpan(0, Math.Min(16, answer.Length)))}");
        }
    }

    [Fact]
    public async Task What_a_member_sends_crosses_the_wire_encrypted()
    {
        var marker = "tls-marker-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var wire = new WireRecorder();
        var member = ClusterAccess.Member(Certificates);
        var recorded = member with { Configure = client => { wire.Attach(client); member.Configure(client); } };

        var failure = await ClusterAccess.CallGrainsAsync(Gateway, ClusterId, ServiceId, recorded, Limit, organizationName: marker);

        Assert.Null(failure);
        var sent = wire.Sent;
        var received = wire.Received;
        Assert.True(sent.Length > 0 && received.Length > 0, "nothing was recorded");
        // Both directions open with a TLS handshake record (content type 22).
        Assert.Equal(22, sent[0]);
        Assert.Equal(22, received[0]);
        foreach (var encoding in new Encoding[] { Encoding.UTF8, Encoding.Unicode })
        {
            var needle = encoding.GetBytes(marker);
            Assert.True(sent.AsSpan().IndexOf(needle) < 0, "the organization's name crossed in clear");
            Assert.True(received.AsSpan().IndexOf(needle) < 0, "the organization's name came back in clear");
        }
    }

    [Fact]
    public async Task The_silo_port_takes_silo_certificates_only()
    {
        using var silo = ClusterAccess.LoadCertificate(Certificates, "silo");
        using var api = ClusterAccess.LoadCertificate(Certificates, "api");

        Assert.True(await ClusterAccess.KeepsTlsConnectionOpenAsync(SiloPort, silo), "the silo port refused a silo certificate");
        Assert.False(await ClusterAccess.KeepsTlsConnectionOpenAsync(SiloPort, api), "the silo port took a client certificate");
        Assert.True(await ClusterAccess.KeepsTlsConnectionOpenAsync(Gateway, api), "the gateway refused the API's certificate");
    }

}

/// <summary>The checks against a TestCluster whose silos and client use <c>UseVaultClusterTls</c>.</summary>
public sealed class TestClusterTlsTests(TestClusterTlsTests.Fixture fixture) : ClusterTlsContract, IClassFixture<TestClusterTlsTests.Fixture>
{
    protected override IPEndPoint Gateway => fixture.Cluster.Primary!.GatewayAddress!.Endpoint;

    protected override IPEndPoint SiloPort => fixture.Cluster.Primary!.SiloAddress.Endpoint;

    protected override string ClusterId => fixture.Cluster.Options.ClusterId;

    protected override string ServiceId => fixture.Cluster.Options.ServiceId;

    protected override string Certificates => TestClusterTls.Directory;

    [Fact]
    public async Task The_test_cluster_client_itself_talks_over_tls()
    {
        var organization = fixture.Cluster.GrainFactory.GetGrain<IOrganizationGrain>(VaultGrains.Domain.ResourceId.New(VaultGrains.Domain.ResourceId.Organization));

        Assert.True((await organization.Create("Acme")).Succeeded);
    }

    public sealed class Fixture : IAsyncLifetime
    {
        public TestCluster Cluster { get; private set; } = null!;

        public async Task InitializeAsync() => Cluster = await VaultTestCluster.StartAsync(
            TestStorage.NewStorage(),
            Path.Combine(Directory.CreateTempSubdirectory("vaultgrains-key").FullName, "kek.key"),
            "svc-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)),
            settings: TestClusterTls.Settings("silo"));

        public async Task DisposeAsync()
        {
            await Cluster.StopAllSilosAsync();
            await Cluster.DisposeAsync();
        }
    }
}

/// <summary>
/// The checks against a silo process started from the build output the way ./run.sh starts it:
/// certificates made by <c>VaultGrains.Silo cluster-certificates</c>, Azure Table clustering.
/// </summary>
public sealed class SiloProcessTlsTests(SiloProcessTlsTests.Fixture fixture) : ClusterTlsContract, IClassFixture<SiloProcessTlsTests.Fixture>
{
    protected override IPEndPoint Gateway => new(IPAddress.Loopback, fixture.GatewayPort);

    protected override IPEndPoint SiloPort => new(IPAddress.Loopback, fixture.SiloPort);

    protected override string ClusterId => fixture.ClusterId;

    protected override string ServiceId => fixture.ServiceId;

    protected override string Certificates => fixture.Certificates;

    [Fact]
    public void The_command_made_owner_only_keys_and_leaves_current_ones_alone()
    {
        foreach (var name in ClusterCertificates.Components.Keys.Append(ClusterCertificates.Authority))
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, CliTool.ModeOf(ClusterCertificates.KeyPath(Certificates, name)));
        }

        Assert.Empty(ClusterCertificates.Ensure(Certificates));
    }

    public sealed class Fixture : IAsyncLifetime
    {
        private readonly string suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        private ServiceProcess? silo;

        public string Certificates { get; } = Path.Combine(Directory.CreateTempSubdirectory("vaultgrains-run").FullName, "cluster-tls");

        public int SiloPort { get; } = TestStorage.FreePort();

        public int GatewayPort { get; } = TestStorage.FreePort();

        public string ClusterId => "tls-" + suffix;

        public string ServiceId => "svc-" + suffix;

        public async Task InitializeAsync()
        {
            var dll = ServiceProcess.BuildOutput("Silo", "VaultGrains.Silo");
            await using (var command = ServiceProcess.Start("cluster-certificates", dll, new Dictionary<string, string>(), "cluster-certificates", Certificates))
            {
                await command.WaitForExitAsync();
                Assert.True(command.ExitCode == 0, command.RecentOutput);
            }

            var health = TestStorage.FreePort();
            silo = ServiceProcess.Start("silo", dll, new Dictionary<string, string>(TestClusterTls.Environment("silo", Certificates))
            {
                ["Storage__ConnectionString"] = TestStorage.ConnectionString,
                ["Storage__Prefix"] = "s" + suffix,
                ["Orleans__Clustering"] = "AzureStorage",
                ["Orleans__ClusterId"] = ClusterId,
                ["Orleans__ServiceId"] = ServiceId,
                ["Orleans__SiloPort"] = $"{SiloPort}",
                ["Orleans__GatewayPort"] = $"{GatewayPort}",
                ["Health__Port"] = $"{health}",
                ["Encryption__Provider"] = "Local",
                ["Encryption__Local__KeyFile"] = Path.Combine(Directory.CreateTempSubdirectory("vaultgrains-key").FullName, "kek.key"),
                ["Logging__LogLevel__Default"] = "Warning",
            });
            await ProcessCluster.WaitUntilAsync(() => ProcessCluster.IsHealthyAsync(new Uri($"http://127.0.0.1:{health}/healthz")), TimeSpan.FromSeconds(90), () => "the silo did not become active\n" + silo.RecentOutput);
        }

        public async Task DisposeAsync()
        {
            if (silo is not null)
            {
                await silo.DisposeAsync();
            }
        }
    }
}
