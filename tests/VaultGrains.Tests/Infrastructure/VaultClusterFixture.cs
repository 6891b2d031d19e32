using System.Security.Cryptography;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.Storage;
using Orleans.TestingHost;
using VaultGrains.Grains;
using VaultGrains.Hosting;
using VaultGrains.Silo;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// An Orleans test cluster whose silos use the production grain storage on Azurite and the
/// production encryption setup. Restartable with the same ServiceId and storage, to prove durability.
/// </summary>
public sealed class VaultClusterFixture : IAsyncLifetime
{
    private readonly string keyFile = Path.Combine(Directory.CreateTempSubdirectory("vaultgrains-key").FullName, "kek.key");

    public StorageOptions Storage { get; } = TestStorage.NewStorage();

    public string ServiceId { get; } = "svc-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    public TestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.GrainFactory;

    public Task InitializeAsync() => StartAsync();

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
        await StartAsync();
    }

    private async Task StartAsync()
    {
        var builder = new TestClusterBuilder(1);
        builder.Options.ServiceId = ServiceId;
        builder.Options.ClusterId = "c-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        builder.ConfigureHostConfiguration(configuration => configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:ConnectionString"] = Storage.ConnectionString,
            ["Storage:Prefix"] = Storage.Prefix,
            ["Encryption:Provider"] = "Local",
            ["Encryption:Local:KeyFile"] = keyFile,
        }));
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            var storage = silo.Configuration.GetSection(StorageOptions.Section).Get<StorageOptions>()!;
            silo.AddVaultGrainStorage(storage);
            silo.Services.AddVaultEncryption(silo.Configuration);
            silo.Services.DecorateKeyed<IGrainStorage>(StorageNames.Vaults, (_, inner) => new FaultInjectingGrainStorage(inner));
        }
    }
}
