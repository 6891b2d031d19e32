namespace VaultGrains;

/// <summary>A runtime as the API returns it: never its token.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.RuntimeDetails")]
public sealed record RuntimeDetails(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] IReadOnlyList<string> VaultIds,
    [property: Id(3)] DateTime CreatedAt,
    [property: Id(4)] DateTime UpdatedAt);

/// <summary>A request to create a runtime; the id and token are minted by the caller, which sends only the token's hash.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.NewRuntime")]
public sealed record NewRuntime(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] IReadOnlyList<string> VaultIds,
    [property: Id(3)] string TokenHash);

/// <summary>A partial update of a runtime; a null member leaves that field alone. <see cref="VaultIds"/> replaces the list.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.RuntimeChanges")]
public sealed record RuntimeChanges(
    [property: Id(0)] string? Name,
    [property: Id(1)] IReadOnlyList<string>? VaultIds);

/// <summary>
/// Everything a runtime may have released, for the secret proxy: the secrets of its vaults in
/// precedence order (an <c>env_key</c> of an earlier vault hides the same key in a later one).
/// <see cref="Stamp"/> changes whenever any of it may have changed.
/// </summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.RuntimeRelease")]
public sealed record RuntimeRelease(
    [property: Id(0)] string RuntimeId,
    [property: Id(1)] string OrganizationId,
    [property: Id(2)] IReadOnlyList<ReleasedSecret> Secrets,
    [property: Id(3)] long Stamp);

/// <summary>The proxy's signing authority: the CA certificate and its private key, decrypted for the proxy's memory only.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.ProxyAuthority")]
public sealed class ProxyAuthority(byte[] certificate, byte[] privateKey)
{
    /// <summary>The CA certificate, DER.</summary>
    [Id(0)] public byte[] Certificate { get; } = certificate;

    /// <summary>The CA's private key, PKCS#8 DER.</summary>
    [Id(1)] public byte[] PrivateKey { get; } = privateKey;

    public override string ToString() => "ProxyAuthority [private key redacted]";
}
