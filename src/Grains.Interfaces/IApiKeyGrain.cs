namespace VaultGrains;

/// <summary>
/// Resolves an API key to its organization. Key: the lowercase hex SHA-256 of the key, so the
/// key itself is never stored or sent to the cluster.
/// </summary>
[Alias("VaultGrains.IApiKeyGrain")]
public interface IApiKeyGrain : IGrainWithStringKey
{
    /// <summary>Binds this key hash to an organization and key id.</summary>
    [Alias("Register")]
    Task Register(string organizationId, string keyId);

    /// <summary>The organization and key id of an active key, or null for an unknown or revoked key.</summary>
    [Alias("ResolveKey")]
    Task<ResolvedApiKey?> Resolve();

    /// <summary>
    /// Like <see cref="Resolve"/>, and for a revoked key also whose it was, so its failed use is
    /// recorded in that organization's audit trail; null for an unknown key or a record that fails its check.
    /// </summary>
    [Alias("Standing")]
    Task<ApiKeyStanding?> Standing();

    /// <summary>Revokes the key.</summary>
    [Alias("Revoke")]
    Task Revoke();

    /// <summary>Seals a record written before records were sealed; false when there was nothing to seal. Only for the one-time sealing at upgrade.</summary>
    [Alias("SealIfUnsealed")]
    Task<bool> SealIfUnsealed();
}

/// <summary>An active API key: whose it is, and its id (the actor of the audit events it causes).</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.ResolvedApiKey")]
public sealed record ResolvedApiKey(
    [property: Id(0)] string OrganizationId,
    [property: Id(1)] string KeyId);

/// <summary>A key the cluster knows: whose it is, and whether it was revoked.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.ApiKeyStanding")]
public sealed record ApiKeyStanding(
    [property: Id(0)] ResolvedApiKey Key,
    [property: Id(1)] bool Revoked);
