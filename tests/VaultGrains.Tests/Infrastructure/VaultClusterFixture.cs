using VaultGrains.Domain;
using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Storage;
using Orleans.TestingHost;
using VaultGrains.Grains;
using VaultGrains.Grains.Vaults;
using VaultGrains.Hosting;
using VaultGrains.Hosting.ClusterTls;
using VaultGrains.Silo;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// An Orleans test cluster whose silos use the production grain storage on Azurite and the
/// production encryption setup. Restartable with the same ServiceId and storage, to prove durability.
/// </summary>
public sealed class VaultClusterFixture : IAsyncLifetime
{
    public string KeyFile { get; } = Path.Combine(Directory.CreateTempSubdirectory("vaultgrains-key").FullName, "kek.key");

    public StorageOptions Storage { get; } = TestStorage.NewStorage();

    public string ServiceId { get; } = "svc-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    public TestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.GrainFactory;

    public async Task InitializeAsync() => Cluster = await VaultTestCluster.StartAsync(Storage, KeyFile, ServiceId);

    /// <summary>A new organization with one vault, made through the grains.</summary>
    public async Task<(string OrganizationId, string VaultId)> NewVaultAsync(string name = "Production")
    {
        var organizationId = ResourceId.New(ResourceId.Organization);
        var organization = Grains.GetGrain<IOrganizationGrain>(organizationId);
        Assert.True((await organization.Create("Acme")).Succeeded);
        var vault = await organization.CreateVault(ResourceId.New(ResourceId.Vault), name, null);
        Assert.True(vault.Succeeded, vault.Error.ToString());
        return (organizationId, vault.Value!.Id);
    }

    /// <summary>A create request with a fresh secret id; the value names the key unless given.</summary>
    public static NewSecret Secret(string envKey, string? value = null, params string[] allowedDomains) =>
        new(ResourceId.New(ResourceId.Secret), envKey, new SecretValue(value ?? "value-of-" + envKey), allowedDomains);

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }

    /// <summary>Stops every silo and starts a new cluster on the same ServiceId and storage.</summary>
    public async Task RestartAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        await InitializeAsync();
    }
}

/// <summary>Builds test clusters with the production storage, encryption and membership settings.</summary>
public static class VaultTestCluster
{
    private const string AzureClusteringKey = "Test:AzureTableClustering";

    /// <summary>
    /// Starts a cluster of <paramref name="silos"/> silos on a fresh ClusterId. With
    /// <paramref name="azureTableClustering"/> silos and client find each other through the Azure
    /// Table membership in Azurite, with the production failure-detection settings, as deployed
    /// silos do; otherwise through the test cluster's in-memory membership. <paramref name="settings"/>
    /// are added to the configuration of silos and client; with <c>Orleans:Tls:*</c> among them
    /// every Orleans connection is mutual TLS, as AddVaultSilo sets it up.
    /// </summary>
    public static async Task<TestCluster> StartAsync(StorageOptions storage, string keyFile, string serviceId, short silos = 1, bool azureTableClustering = false, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var builder = new TestClusterBuilder(silos);
        builder.Options.ServiceId = serviceId;
        builder.Options.ClusterId = "c-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        builder.Options.UseTestClusterMembership = !azureTableClustering;
        if (settings?.ContainsKey($"{ClusterTlsOptions.Section}:{nameof(ClusterTlsOptions.CaFile)}") == true)
        {
            // TLS secures sockets: the test cluster's default in-memory transport has none.
            builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        }
        builder.ConfigureHostConfiguration(configuration => configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:ConnectionString"] = storage.ConnectionString,
            ["Storage:Prefix"] = storage.Prefix,
            ["Encryption:Provider"] = "Local",
            ["Encryption:Local:KeyFile"] = keyFile,
            [AzureClusteringKey] = azureTableClustering ? "true" : "false",
        }).AddInMemoryCollection(settings ?? new Dictionary<string, string?>()));
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        builder.AddClientBuilderConfigurator<ClientConfigurator>();
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    private static StorageOptions Storage(IConfiguration configuration) =>
        configuration.GetSection(StorageOptions.Section).Get<StorageOptions>()!;

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            var storage = Storage(silo.Configuration);
            if (silo.Configuration.GetValue<bool>(AzureClusteringKey))
            {
                silo.UseAzureStorageClustering(options =>
                {
                    options.TableServiceClient = storage.CreateTableServiceClient();
                    options.TableName = storage.ClusterTable;
                });
                silo.Services.AddVaultMembership(silo.Configuration);
            }

            if (silo.Configuration[$"{ClusterTlsOptions.Section}:{nameof(ClusterTlsOptions.CaFile)}"] is not null)
            {
                silo.UseVaultClusterTls();
            }

            silo.AddVaultGrainStorage(storage);
            silo.Services.AddVaultEncryption(silo.Configuration);
            silo.Services.Decorate<IVaultLogStore>((_, inner) => new FaultInjectingVaultLogStore(inner));
            silo.AddIncomingGrainCallFilter<OrganizationReportFaults>();
        }
    }

    private sealed class ClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(IConfiguration configuration, IClientBuilder client)
        {
            if (configuration[$"{ClusterTlsOptions.Section}:{nameof(ClusterTlsOptions.CaFile)}"] is not null)
            {
                client.UseVaultClusterTls();
            }

            if (configuration.GetValue<bool>(AzureClusteringKey))
            {
                var storage = Storage(configuration);
                client.UseAzureStorageClustering(options =>
                {
                    options.TableServiceClient = storage.CreateTableServiceClient();
                    options.TableName = storage.ClusterTable;
                });

                // As the API does: a call to a killed silo gets no answer, do not wait 30 s for it.
                client.Configure<ClientMessagingOptions>(options => options.ResponseTimeout = TimeSpan.FromSeconds(3));
            }
        }
    }
}
