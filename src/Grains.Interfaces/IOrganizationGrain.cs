using Orleans.Concurrency;

namespace VaultGrains;

/// <summary>
/// One organization: its name, the ids and summaries of its vaults (for listing without
/// touching every vault), its API keys (hash, name and hint only), whether it is switched off,
/// and its limits. Key: the organization id.
/// </summary>
/// <remarks>
/// Calls interleave (the grain is reentrant): a vault create waiting on Key Vault never holds up a
/// revocation, a switch-off or a listing.
/// </remarks>
[Alias("VaultGrains.IOrganizationGrain")]
public interface IOrganizationGrain : IGrainWithStringKey
{
    /// <summary>Creates the organization; fails with <see cref="VaultError.AlreadyExists"/> if it exists.</summary>
    [Alias("Create")]
    Task<VaultReply<OrganizationDetails>> Create(string name);

    /// <summary>Reads the organization, or <see cref="VaultError.OrganizationNotFound"/>.</summary>
    [Alias("Get")]
    Task<VaultReply<OrganizationDetails>> Get();

    /// <summary>
    /// Creates a vault in this organization and records it for listing. Repeating it with the same vault id
    /// answers that vault. Fails with <see cref="VaultError.VaultLimitReached"/> when the vaults listed
    /// plus those being created reach the organization's limit.
    /// </summary>
    [Alias("CreateVault")]
    Task<VaultReply<VaultDetails>> CreateVault(string vaultId, string name, string? description);

    /// <summary>Lists the organization's vaults in creation order (the order of their ULID ids), from memory.</summary>
    [Alias("ListVaults")]
    Task<VaultReply<IReadOnlyList<VaultDetails>>> ListVaults();

    /// <summary>
    /// Records the latest metadata of one of this organization's vaults. The vault awaits it after each
    /// write and before acknowledging it, so a listing never shows less than what a caller was told.
    /// Interleaves with everything: it only updates memory (a timer persists it), and a vault must not
    /// wait behind, or deadlock with, an organization call that is itself waiting for a vault.
    /// </summary>
    [Alias("VaultChanged"), AlwaysInterleave]
    Task VaultChanged(VaultDetails vault);

    /// <summary>
    /// Deletes an empty vault of this organization and removes it from the listing. A vault that no
    /// longer exists is removed from the listing too (a retry after a failed listing write).
    /// </summary>
    [Alias("DeleteVault")]
    Task<VaultReply<VaultDetails>> DeleteVault(string vaultId);

    /// <summary>The ids of all vaults of this organization, for maintenance walks.</summary>
    [Alias("GetVaultIds")]
    Task<IReadOnlyList<string>> GetVaultIds();

    /// <summary>The hashes of the listed API keys and the ids of the runtimes, for the one-time sealing walk at upgrade.</summary>
    [Alias("GetCredentialRecords")]
    Task<CredentialRecords> GetCredentialRecords();

    /// <summary>Records a new API key (its hash) and makes it usable.</summary>
    [Alias("CreateApiKey")]
    Task<VaultReply<ApiKeyDetails>> CreateApiKey(NewApiKey key);

    /// <summary>Lists the API keys that are not revoked.</summary>
    [Alias("ListApiKeys")]
    Task<VaultReply<IReadOnlyList<ApiKeyDetails>>> ListApiKeys();

    /// <summary>Revokes an API key; it is refused from then on. Never waits for the organization's other calls.</summary>
    [Alias("RevokeApiKey")]
    Task<VaultReply<ApiKeyDetails>> RevokeApiKey(string keyId);

    /// <summary>
    /// Switches the organization off or on and/or sets its limits. Switched off, its API keys and
    /// runtime tokens are refused (nothing is deleted); a lower limit blocks new vaults or runtimes
    /// but removes none. Runtimes are told before this answers.
    /// </summary>
    [Alias("Update")]
    Task<VaultReply<OrganizationDetails>> Update(OrganizationChanges changes);

    /// <summary>Whether the organization is switched off, from memory: API front ends and runtimes ask before they honour a credential.</summary>
    [Alias("IsDisabled"), AlwaysInterleave]
    Task<bool> IsDisabled();

    /// <summary>
    /// Creates a runtime in this organization (attaching its vaults) and lists it. Repeating it with the same
    /// runtime id answers that runtime. Fails with <see cref="VaultError.RuntimeLimitReached"/> at the limit.
    /// </summary>
    [Alias("CreateRuntime")]
    Task<VaultReply<RuntimeDetails>> CreateRuntime(NewRuntime runtime);

    /// <summary>Lists the organization's runtimes in creation order.</summary>
    [Alias("ListRuntimes")]
    Task<VaultReply<IReadOnlyList<RuntimeDetails>>> ListRuntimes();

    /// <summary>Deletes a runtime (detaching its vaults, voiding its token) and unlists it.</summary>
    [Alias("DeleteRuntime")]
    Task<VaultReply<RuntimeDetails>> DeleteRuntime(string runtimeId);
}
