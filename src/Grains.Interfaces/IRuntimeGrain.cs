using Orleans.Concurrency;

namespace VaultGrains;

/// <summary>
/// One runtime: a deployment of an agent with vaults attached, and the hash of its proxy token.
/// It is the truth for which vaults it holds (each of those vaults also records that it is held,
/// so a held vault refuses deletion and releases only to its holders). Key: the runtime id (<c>rtm_…</c>).
/// </summary>
/// <remarks>
/// Created and deleted through its organization (<see cref="IOrganizationGrain.CreateRuntime"/>),
/// which lists it. Attaching goes vault first, then the runtime's record; detaching the same way, so
/// at every moment a release needs both records and a vault never forgets a runtime that still uses it.
/// </remarks>
[Alias("VaultGrains.IRuntimeGrain")]
public interface IRuntimeGrain : IGrainWithStringKey
{
    /// <summary>Creates the runtime and attaches its vaults. The same create again (same organization, name, vaults and token hash) answers the runtime.</summary>
    [Alias("Create")]
    Task<VaultReply<RuntimeDetails>> Create(string organizationId, NewRuntime runtime);

    /// <summary>Reads the runtime, or <see cref="VaultError.RuntimeNotFound"/> (also for another organization's runtime).</summary>
    [Alias("Get")]
    Task<VaultReply<RuntimeDetails>> Get(string organizationId);

    /// <summary>Renames and/or replaces the vault list (attach and detach); no change means no write and no new <c>updated_at</c>.</summary>
    [Alias("Update")]
    Task<VaultReply<RuntimeDetails>> Update(string organizationId, RuntimeChanges changes);

    /// <summary>Replaces the token hash: the old token stops working at once.</summary>
    [Alias("RotateToken")]
    Task<VaultReply<RuntimeDetails>> RotateToken(string organizationId, string tokenHash);

    /// <summary>Detaches every vault and deletes the runtime; its token stops working at once. Called by its organization.</summary>
    [Alias("Delete")]
    Task<VaultReply<RuntimeDetails>> Delete(string organizationId);

    /// <summary>
    /// For the secret proxy: every secret of the attached vaults, decrypted, when <paramref name="tokenHash"/>
    /// is the runtime's current token hash; <see cref="VaultError.RuntimeNotFound"/> otherwise.
    /// </summary>
    [Alias("Release")]
    Task<VaultReply<RuntimeRelease>> Release(string tokenHash);

    /// <summary>
    /// The runtime's current stamp when <paramref name="tokenHash"/> is its current token hash, else null.
    /// Cheap: the proxy asks at most once a second per runtime it serves, and reloads when the stamp moved.
    /// </summary>
    [Alias("CheckStamp"), AlwaysInterleave]
    Task<long?> CheckStamp(string tokenHash);

    /// <summary>
    /// Whose runtime this is, so a token the proxy refused for it is recorded in that organization's
    /// audit trail; null when there is no such runtime. Says nothing about any token.
    /// </summary>
    [Alias("Owner"), AlwaysInterleave]
    Task<RuntimeOwner?> Owner();

    /// <summary>An attached vault's secrets changed: moves the stamp and tells subscribed proxies. Called by the vault before it acknowledges the change.</summary>
    [Alias("SecretsChanged"), AlwaysInterleave]
    Task SecretsChanged(string vaultId);

    /// <summary>
    /// The organization was switched off (<paramref name="disabled"/>) or on: while off, <see cref="Release"/>
    /// and <see cref="CheckStamp"/> refuse every token. Moves the stamp and tells subscribed proxies.
    /// </summary>
    [Alias("OrganizationAccessChanged"), AlwaysInterleave]
    Task OrganizationAccessChanged(bool disabled);

    /// <summary>Seals a record written before records were sealed; false when there was nothing to seal. Only for the one-time sealing at upgrade.</summary>
    [Alias("SealIfUnsealed")]
    Task<bool> SealIfUnsealed();

    /// <summary>Tells <paramref name="observer"/> of every change for the next minute; proxies subscribe again while they hold the runtime.</summary>
    [Alias("Subscribe"), AlwaysInterleave]
    Task Subscribe(IRuntimeObserver observer);
}

/// <summary>A runtime's organization, and whether it is switched off (then every token of the runtime is refused).</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.RuntimeOwner")]
public sealed record RuntimeOwner(
    [property: Id(0)] string OrganizationId,
    [property: Id(1)] bool OrganizationDisabled);

/// <summary>A secret proxy that holds a runtime's values in memory and drops them when told they changed.</summary>
[Alias("VaultGrains.IRuntimeObserver")]
public interface IRuntimeObserver : IGrainObserver
{
    /// <summary>The runtime's secrets, vaults or token changed: reload before the next release.</summary>
    [Alias("RuntimeChanged"), OneWay]
    Task RuntimeChanged(string runtimeId);
}

/// <summary>
/// The secret proxy's certificate authority: created on first use (or taken from the operator's
/// files), its private key stored only encrypted under the key-encryption key. Key: 0.
/// </summary>
[Alias("VaultGrains.IProxyAuthorityGrain")]
public interface IProxyAuthorityGrain : IGrainWithIntegerKey
{
    /// <summary>The CA certificate in PEM, for agents to trust (the runtime environment's <c>ca_certificate</c>).</summary>
    [Alias("GetCertificatePem")]
    Task<string> GetCertificatePem();

    /// <summary>The CA certificate and private key, for the proxy to issue leaf certificates.</summary>
    [Alias("GetSigningAuthority")]
    Task<ProxyAuthority> GetSigningAuthority();
}
