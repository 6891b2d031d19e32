using System.Text;

namespace VaultGrains.Domain;

/// <summary>The validation rules and limits of secrets and vaults, as API.md states them.</summary>
public static class SecretRules
{
    public const int MaxEnvKeyLength = 256;
    public const int MaxValueBytes = 65_536;
    public const int MaxAllowedDomains = 50;
    public const int MaxSecretsPerVault = 1_000;
    public const long MaxValueBytesPerVault = 8L * 1024 * 1024;
    public const int MaxVaultNameLength = 200;
    public const int MaxVaultDescriptionLength = 2_000;
    public const int MaxRequestBodyBytes = 1024 * 1024;

    private static readonly string[] ReservedPrefixes = ["NAIRI_", "CCAGENT_", "CCASECRET_"];

    /// <summary>Null when <paramref name="envKey"/> is acceptable, else the error message.</summary>
    public static string? CheckEnvKey(string envKey)
    {
        if (envKey.Length == 0)
        {
            return "env_key cannot be empty";
        }

        if (envKey.Length > MaxEnvKeyLength)
        {
            return "env_key must be at most 256 characters";
        }

        if (!IsEnvKeyShape(envKey))
        {
            return "env_key must match ^[A-Za-z_][A-Za-z0-9_]*$";
        }

        foreach (var prefix in ReservedPrefixes)
        {
            if (envKey.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                return $"env_key must not start with the reserved prefix {prefix}";
            }
        }

        return null;
    }

    /// <summary>Null when the value fits, else the error message. Emptiness is checked by the caller, since its message is fixed by the seed.</summary>
    public static string? CheckValueSize(string value) =>
        Encoding.UTF8.GetByteCount(value) > MaxValueBytes ? "value must be at most 65536 bytes" : null;

    /// <summary>Length as a person counts it: Unicode scalar values, so an emoji is one character, not two UTF-16 units.</summary>
    public static int CharacterCount(string text)
    {
        var count = 0;
        foreach (var _ in text.EnumerateRunes())
        {
            count++;
        }

        return count;
    }

    private static bool IsEnvKeyShape(string envKey)
    {
        if (!(char.IsAsciiLetter(envKey[0]) || envKey[0] == '_'))
        {
            return false;
        }

        foreach (var c in envKey)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                return false;
            }
        }

        return true;
    }
}
