namespace VaultGrains;

/// <summary>
/// One vault: its organization, name and secrets. The grain serializes every change, so an
/// <c>env_key</c> is unique in the vault without races, and acknowledges a change only after
/// it is in storage. Key: the vault id (<c>vlt_…</c>).
/// </summary>
/// <remarks>Every call names the calling organization; a vault of another organization answers <see cref="VaultError.VaultNotFound"/>.</remarks>
[Alias("VaultGrains.IVaultGrain")]
public interface IVaultGrain : IGrainWithStringKey
{
    /// <summary>
    /// Creates the vault with a fresh vault key. Fails with <see cref="VaultError.AlreadyExists"/> if it exists,
    /// unless it is the same create again (same organization and name), which answers the vault.
    /// </summary>
    [Alias("Create")]
    Task<VaultReply<VaultDetails>> Create(NewVault vault);

    /// <summary>Reads the vault's metadata.</summary>
    [Alias("Get")]
    Task<VaultReply<VaultDetails>> Get(string organizationId);

    /// <summary>Applies a partial update; no change means no write and no new <c>updated_at</c>.</summary>
    [Alias("Update")]
    Task<VaultReply<VaultDetails>> Update(string organizationId, VaultChanges changes);

    /// <summary>Deletes an empty vault that no runtime holds, and destroys its wrapped vault key. Called by its organization (<see cref="IOrganizationGrain.DeleteVault"/>), which also unlists it.</summary>
    [Alias("Delete")]
    Task<VaultReply<VaultDetails>> Delete(string organizationId);

    /// <summary>
    /// Encrypts and stores a new secret. Duplicate <c>env_key</c>s are refused; the same create again
    /// (same secret id and <c>env_key</c>) answers the stored secret, so a caller may retry safely.
    /// </summary>
    [Alias("CreateSecret")]
    Task<VaultReply<SecretDetails>> CreateSecret(string organizationId, NewSecret secret);

    /// <summary>Lists the secrets' metadata in creation order (the order of their ULID ids), from memory.</summary>
    [Alias("ListSecrets")]
    Task<VaultReply<IReadOnlyList<SecretDetails>>> ListSecrets(string organizationId);

    /// <summary>
    /// The same listing as the public API's JSON array, encoded once per committed version of the
    /// vault and handed out as bytes: the listing is read far more often than the vault changes.
    /// </summary>
    [Alias("ListSecretsJson")]
    Task<VaultReply<SecretListJson>> ListSecretsJson(string organizationId);

    /// <summary>Reads one secret's metadata.</summary>
    [Alias("GetSecret")]
    Task<VaultReply<SecretDetails>> GetSecret(string organizationId, string secretId);

    /// <summary>Rotates the value (under a fresh data key) and/or replaces the allowed domains.</summary>
    [Alias("UpdateSecret")]
    Task<VaultReply<SecretDetails>> UpdateSecret(string organizationId, string secretId, SecretChanges changes);

    /// <summary>Deletes a secret and its wrapped data key.</summary>
    [Alias("DeleteSecret")]
    Task<VaultReply<SecretDetails>> DeleteSecret(string organizationId, string secretId);

    /// <summary>
    /// Records that a runtime holds this vault: from then on the vault refuses deletion and releases
    /// its secrets to that runtime. Idempotent. Called by the runtime before it records the vault itself.
    /// </summary>
    [Alias("AttachRuntime")]
    Task<VaultError> AttachRuntime(string organizationId, string runtimeId);

    /// <summary>Forgets a runtime: no more releases to it. Idempotent; a vault that no longer exists answers success.</summary>
    [Alias("DetachRuntime")]
    Task<VaultError> DetachRuntime(string organizationId, string runtimeId);

    /// <summary>
    /// Decrypts every secret for a runtime that holds this vault, else <see cref="VaultError.RuntimeNotAttached"/>.
    /// Only the runtime grain itself may call this (<see cref="IRuntimeGrain.Release"/> checks the token first);
    /// a call from anywhere else is refused.
    /// </summary>
    [Alias("ReleaseToRuntime")]
    Task<VaultReply<IReadOnlyList<ReleasedSecret>>> ReleaseToRuntime(string runtimeId);

    /// <summary>
    /// Re-wraps the vault key under the configured key-encryption key if it names another one
    /// (an activation also does this by itself, in the background). Values are untouched.
    /// </summary>
    [Alias("Rewrap")]
    Task<RewrapOutcome> Rewrap();

    /// <summary>
    /// Waits until every event this vault's log holds is in its organization's chain (its trail
    /// calls this, after losing what an earlier activation had taken, for each vault that may hold
    /// such events); <see cref="VaultError.AuditUnavailable"/> if they could not be delivered in time.
    /// </summary>
    [Alias("DeliverAuditEvents")]
    Task<VaultError> DeliverAuditEvents();
}
