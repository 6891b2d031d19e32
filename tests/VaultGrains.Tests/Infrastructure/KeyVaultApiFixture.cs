using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;
using VaultGrains.Grains;
using VaultGrains.Grains.Vaults;
using VaultGrains.Silo;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// The API and a silo host (as <see cref="ApiFixture"/>) whose key-encryption key is a key in the
/// Key Vault stand-in, reached through the production adapter with a fake token credential.
/// Restartable on another key version, to rotate.
/// </summary>
public class KeyVaultApiFixture : ApiFixture
{
    public KeyVaultStandIn StandIn { get; } = new();

    public FakeTokenCredential Credential { get; } = new();

    public string CurrentVersion { get; private set; } = KeyVaultStandIn.Version1;

    public string CurrentKeyId => StandIn.KeyId(CurrentVersion);

    public IGrainFactory Grains => SiloServices.GetRequiredService<IGrainFactory>();

    public override async Task InitializeAsync()
    {
        await StandIn.InitializeAsync();
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await StandIn.DisposeAsync();
    }

    /// <summary>Restarts silo and API with another key version configured as the KEK.</summary>
    public async Task SwitchKeyAsync(string version)
    {
        CurrentVersion = version;
        Settings["Encryption:KeyVault:KeyId"] = CurrentKeyId;
        await RestartAsync();
    }

    public Task DeactivateAllAsync() => Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

    public BlobContainerClient VaultBlobs => new BlobServiceClient(Storage.ConnectionString).GetBlobContainerClient(Storage.VaultContainer);

    /// <summary>The vault's state as stored, with every byte stored for it, or null when nothing is.</summary>
    internal Task<(VaultState State, byte[] Raw)?> ReadVaultAsync(string vaultId) => StoredVaults.ReadAsync(vaultId);

    /// <summary>Replaces a vault's stored state, as someone with write access to the storage account could.</summary>
    internal Task OverwriteVaultAsync(string vaultId, VaultState state) => StoredVaults.OverwriteAsync(vaultId, state);

    internal StoredVaults StoredVaults => new(Storage, SiloServices.GetRequiredService<Serializer>());

    protected override void ConfigureSettings(Dictionary<string, string?> settings)
    {
        settings.Remove("Encryption:Local:KeyFile");
        settings["Encryption:Provider"] = "KeyVault";
        settings["Encryption:KeyVault:KeyId"] = CurrentKeyId;
        settings["Encryption:KeyVault:MaxRetries"] = "1";
        settings["Encryption:KeyVault:RetryDelay"] = "00:00:00.050";
        settings["Encryption:KeyVault:NetworkTimeout"] = "00:00:02";
        settings["Encryption:KeyVault:Timeout"] = "00:00:05";
    }

    protected override void ConfigureSilo(IServiceCollection services) =>
        services.AddSingleton(new KeyVaultConnection(Credential, StandIn.Transport()));
}
