using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace VaultGrains.Grains.Crypto;

/// <summary>
/// A versioned Azure Key Vault (or Managed HSM) key id, <c>https://{host}/keys/{name}/{version}</c>.
/// Only this shape is accepted, so a stored key id can never steer a request to another path.
/// </summary>
public sealed partial record KeyVaultKeyId
{
    private KeyVaultKeyId(Uri vault, string name, string version)
    {
        Vault = vault;
        Name = name;
        Version = version;
        Id = $"{vault.GetLeftPart(UriPartial.Authority)}/keys/{name}/{version}";
    }

    /// <summary>Scheme and authority of the vault, e.g. <c>https://contoso.vault.azure.net</c>.</summary>
    public Uri Vault { get; }

    public string Name { get; }

    public string Version { get; }

    /// <summary>The normalized id: the vault's authority, then <c>/keys/{name}/{version}</c>.</summary>
    public string Id { get; }

    public override string ToString() => Id;

    public static bool TryParse(string? text, [NotNullWhen(true)] out KeyVaultKeyId? keyId)
    {
        keyId = null;
        if (string.IsNullOrWhiteSpace(text)
            || !Uri.TryCreate(text, UriKind.Absolute, out var uri)
            || uri.Scheme != Uri.UriSchemeHttps
            || uri.UserInfo.Length > 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            return false;
        }

        var segments = uri.AbsolutePath.Split('/');
        if (segments is not ["", "keys", var name, var version] || !KeyName().IsMatch(name) || !KeyVersion().IsMatch(version))
        {
            return false;
        }

        keyId = new KeyVaultKeyId(new Uri(uri.GetLeftPart(UriPartial.Authority)), name, version.ToLowerInvariant());
        return true;
    }

    /// <summary>True when both keys live in the same vault (same scheme, host and port).</summary>
    public bool IsInVaultOf(KeyVaultKeyId other) => Uri.Compare(Vault, other.Vault, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;

    [GeneratedRegex("^[0-9a-zA-Z-]{1,127}$")]
    private static partial Regex KeyName();

    [GeneratedRegex("^[0-9a-fA-F]{32}$")]
    private static partial Regex KeyVersion();
}
