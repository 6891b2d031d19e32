using Microsoft.Extensions.Options;
using VaultGrains.Grains.Crypto;

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
    /// <summary>
    /// Path of the key file; created with owner-only permissions on first start. With the
    /// <c>KeyVault</c> provider it is optional and only unwraps vault keys it wrapped before, so
    /// a local deployment can move into Key Vault by a re-wrap.
    /// </summary>
    public string? KeyFile { get; set; }
}

public sealed class KeyVaultKeyOptions
{
    /// <summary>The versioned key id, <c>https://{vault}.vault.azure.net/keys/{name}/{version}</c>: new vault keys are wrapped with it.</summary>
    public string? KeyId { get; set; }

    /// <summary>
    /// Older key ids in other vaults that may still unwrap (only needed when moving to another
    /// vault). Keys in the vault of <see cref="KeyId"/> are trusted without being listed.
    /// </summary>
    public List<string> PreviousKeyIds { get; set; } = [];

    /// <summary>Token scope; <c>https://managedhsm.azure.net/.default</c> for a Managed HSM.</summary>
    public string Scope { get; set; } = KeyVaultClientSettings.VaultScope;

    public string ApiVersion { get; set; } = KeyVaultClientSettings.CurrentApiVersion;

    public int MaxRetries { get; set; } = 3;

    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Limit of one HTTP try.</summary>
    public TimeSpan NetworkTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Limit of one wrap or unwrap, retries included.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(15);

    internal KeyVaultClientSettings ToSettings() => new()
    {
        Scope = Scope,
        ApiVersion = ApiVersion,
        MaxRetries = MaxRetries,
        RetryDelay = RetryDelay,
        MaxRetryDelay = TimeSpan.FromSeconds(8),
        NetworkTimeout = NetworkTimeout,
        Timeout = Timeout,
    };
}

internal sealed class EncryptionOptionsValidator : IValidateOptions<EncryptionOptions>
{
    private const string VersionedKeyId = "a versioned key id such as https://{vault}.vault.azure.net/keys/{name}/{version} (32 hex digits)";

    public ValidateOptionsResult Validate(string? name, EncryptionOptions options)
    {
        switch (options.Provider)
        {
            case EncryptionOptions.LocalProvider when string.IsNullOrWhiteSpace(options.Local.KeyFile):
                return ValidateOptionsResult.Fail("Encryption:Local:KeyFile is required when Encryption:Provider is Local.");
            case EncryptionOptions.LocalProvider:
                return ValidateOptionsResult.Success;
            case EncryptionOptions.KeyVaultProvider when options.Local.KeyFile is { Length: > 0 } keyFile && !File.Exists(keyFile):
                return ValidateOptionsResult.Fail($"Encryption:Local:KeyFile {keyFile} does not exist; with Encryption:Provider KeyVault it only unwraps vault keys it wrapped before, so leave it empty.");
            case EncryptionOptions.KeyVaultProvider:
                return ValidateKeyVault(options.KeyVault);
            default:
                return ValidateOptionsResult.Fail($"Encryption:Provider must be \"Local\" or \"KeyVault\", not \"{options.Provider}\".");
        }
    }

    private static ValidateOptionsResult ValidateKeyVault(KeyVaultKeyOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.KeyId))
        {
            failures.Add($"Encryption:KeyVault:KeyId is required when Encryption:Provider is KeyVault: {VersionedKeyId}.");
        }
        else if (!KeyVaultKeyId.TryParse(options.KeyId, out _))
        {
            failures.Add($"Encryption:KeyVault:KeyId must be {VersionedKeyId}, not \"{options.KeyId}\".");
        }

        for (var i = 0; i < options.PreviousKeyIds.Count; i++)
        {
            if (!KeyVaultKeyId.TryParse(options.PreviousKeyIds[i], out _))
            {
                failures.Add($"Encryption:KeyVault:PreviousKeyIds:{i} must be {VersionedKeyId}, not \"{options.PreviousKeyIds[i]}\".");
            }
        }

        if (!Uri.TryCreate(options.Scope, UriKind.Absolute, out var scope) || scope.Scheme != Uri.UriSchemeHttps || !options.Scope.EndsWith("/.default", StringComparison.Ordinal))
        {
            failures.Add($"Encryption:KeyVault:Scope must be an https scope ending in /.default, not \"{options.Scope}\".");
        }

        if (string.IsNullOrWhiteSpace(options.ApiVersion))
        {
            failures.Add("Encryption:KeyVault:ApiVersion cannot be empty.");
        }

        if (options.MaxRetries is < 0 or > 10)
        {
            failures.Add("Encryption:KeyVault:MaxRetries must be between 0 and 10.");
        }

        if (options.RetryDelay < TimeSpan.Zero || options.RetryDelay > TimeSpan.FromSeconds(10))
        {
            failures.Add("Encryption:KeyVault:RetryDelay must be between 00:00:00 and 00:00:10.");
        }

        if (options.NetworkTimeout <= TimeSpan.Zero || options.NetworkTimeout > options.Timeout)
        {
            failures.Add("Encryption:KeyVault:NetworkTimeout must be positive and at most Encryption:KeyVault:Timeout.");
        }

        if (options.Timeout <= TimeSpan.Zero || options.Timeout > TimeSpan.FromSeconds(25))
        {
            // Orleans gives up on a grain call after 30 s; the key service must answer before that.
            failures.Add("Encryption:KeyVault:Timeout must be positive and at most 00:00:25.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
