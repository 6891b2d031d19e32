using Microsoft.Extensions.Options;

namespace VaultGrains.Silo;

/// <summary>Which key-encryption key protects the vault keys (section <c>Encryption</c>).</summary>
public sealed class EncryptionOptions
{
    public const string Section = "Encryption";
    public const string LocalProvider = "Local";
    public const string KeyVaultProvider = "KeyVault";

    /// <summary><c>Local</c> (a key file; development) or <c>KeyVault</c> (an Azure Key Vault key).</summary>
    public string Provider { get; set; } = LocalProvider;

    public LocalKeyOptions Local { get; set; } = new();

    public KeyVaultKeyOptions KeyVault { get; set; } = new();
}

public sealed class LocalKeyOptions
{
    /// <summary>Path of the key file; created with owner-only permissions on first start.</summary>
    public string? KeyFile { get; set; }
}

public sealed class KeyVaultKeyOptions
{
    /// <summary>The versioned key id, <c>https://{vault}.vault.azure.net/keys/{name}/{version}</c>.</summary>
    public string? KeyId { get; set; }
}

internal sealed class EncryptionOptionsValidator : IValidateOptions<EncryptionOptions>
{
    public ValidateOptionsResult Validate(string? name, EncryptionOptions options)
    {
        switch (options.Provider)
        {
            case EncryptionOptions.LocalProvider when string.IsNullOrWhiteSpace(options.Local.KeyFile):
                return ValidateOptionsResult.Fail("Encryption:Local:KeyFile is required when Encryption:Provider is Local.");
            case EncryptionOptions.LocalProvider:
                return ValidateOptionsResult.Success;
            case EncryptionOptions.KeyVaultProvider:
                return ValidateOptionsResult.Fail("Encryption:Provider KeyVault is not available in this build; use Local.");
            default:
                return ValidateOptionsResult.Fail($"Encryption:Provider must be \"Local\" or \"KeyVault\", not \"{options.Provider}\".");
        }
    }
}
