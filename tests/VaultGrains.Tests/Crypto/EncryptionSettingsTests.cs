using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using VaultGrains.Silo;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Crypto;

/// <summary>A bad Encryption section stops the silo at start with a message naming the key.</summary>
public sealed class EncryptionSettingsTests
{
    private const string Versioned = "https://contoso.vault.azure.net/keys/vault-kek/78deebed173b48e48f55abf87ed4cf71";

    [Theory]
    [InlineData("KeyVault", null, "Encryption:KeyVault:KeyId is required")]
    [InlineData("KeyVault", "https://contoso.vault.azure.net/keys/vault-kek", "Encryption:KeyVault:KeyId must be a versioned key id")]
    [InlineData("KeyVault", "http://contoso.vault.azure.net/keys/vault-kek/78deebed173b48e48f55abf87ed4cf71", "Encryption:KeyVault:KeyId must be a versioned key id")]
    [InlineData("Vault", Versioned, "Encryption:Provider must be \"Local\" or \"KeyVault\"")]
    public async Task A_bad_setting_stops_the_silo_with_a_message_naming_the_key(string provider, string? keyId, string message)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Development" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:ConnectionString"] = TestStorage.BuildConnectionString(1, 2, 3),
            ["Orleans:Clustering"] = "Localhost",
            ["Orleans:Tls:UnsafePlaintext"] = "true",
            ["Encryption:Provider"] = provider,
            ["Encryption:KeyVault:KeyId"] = keyId,
        });
        builder.AddVaultSilo();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(message, error.Message);
    }

    [Fact]
    public async Task A_versioned_key_id_is_accepted_without_calling_Key_Vault_at_start()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Development" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:ConnectionString"] = TestStorage.BuildConnectionString(1, 2, 3),
            ["Orleans:Clustering"] = "Localhost",
            ["Orleans:Tls:UnsafePlaintext"] = "true",
            ["Encryption:Provider"] = "KeyVault",
            ["Encryption:KeyVault:KeyId"] = Versioned,
        });
        builder.AddVaultSilo();
        using var host = builder.Build();

        var options = host.Services.GetRequiredService<IOptions<EncryptionOptions>>();
        var protector = host.Services.GetRequiredService<VaultGrains.Grains.Crypto.VaultKeyProtector>();

        Assert.Equal(Versioned, options.Value.KeyVault.KeyId);
        Assert.Equal(Versioned, protector.CurrentKeyId);
    }
}
