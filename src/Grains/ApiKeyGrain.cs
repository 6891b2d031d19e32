using Microsoft.Extensions.Logging;
using VaultGrains.Grains.Crypto;

namespace VaultGrains.Grains;

[GenerateSerializer, Alias("VaultGrains.Grains.ApiKeyState")]
internal sealed class ApiKeyState
{
    [Id(0)] public string? OrganizationId { get; set; }
    [Id(1)] public string? KeyId { get; set; }
    [Id(2)] public bool Revoked { get; set; }

    /// <summary>HMAC under the state key over the key hash, organization, key id and revocation (<see cref="CredentialSeal"/>).</summary>
    [Id(3)] public byte[]? Seal { get; set; }
}

/// <summary>
/// One API key, addressed by its hash. Revocation is final. The record is sealed under the cluster's
/// state key, so one changed in storage (moved to another organization, un-revoked, or forged for a
/// chosen hash) fails its check and is refused, never obeyed.
/// </summary>
internal sealed class ApiKeyGrain(
    [PersistentState("apikey", StorageNames.ApiKeys)] IPersistentState<ApiKeyState> storage,
    CredentialSeal seal,
    ILogger<ApiKeyGrain> logger) : Grain, IApiKeyGrain
{
    private const string Kind = "api-key";
    private SealCheck? checkedSeal;

    private string KeyHash => this.GetPrimaryKeyString();

    public async Task Register(string organizationId, string keyId)
    {
        if (storage.State.OrganizationId is not null)
        {
            throw new InvalidOperationException($"API key {keyId} collides with an existing key hash.");
        }

        storage.State.OrganizationId = organizationId;
        storage.State.KeyId = keyId;
        storage.State.Seal = await SealAsync(storage.State);
        checkedSeal = SealCheck.Valid;
        await storage.WriteStateAsync();
    }

    public async Task<ResolvedApiKey?> Resolve()
    {
        if (storage.State is { Revoked: false, OrganizationId: { } organizationId, KeyId: { } keyId } && await IsTrustedAsync())
        {
            return new ResolvedApiKey(organizationId, keyId);
        }

        // Unknown (a guess), revoked or tampered with: do not keep an activation per key an attacker makes up.
        DeactivateOnIdle();
        return null;
    }

    public async Task<ApiKeyStanding?> Standing()
    {
        if (storage.State is { OrganizationId: { } organizationId, KeyId: { } keyId } && await IsTrustedAsync())
        {
            if (!storage.State.Revoked)
            {
                return new ApiKeyStanding(new ResolvedApiKey(organizationId, keyId), Revoked: false);
            }

            DeactivateOnIdle();
            return new ApiKeyStanding(new ResolvedApiKey(organizationId, keyId), Revoked: true);
        }

        DeactivateOnIdle();
        return null;
    }

    public async Task Revoke()
    {
        if (storage.State.Revoked)
        {
            return;
        }

        storage.State.Revoked = true;
        try
        {
            // Without a new seal (key service down) the stored record fails its check: refused all the same.
            try
            {
                storage.State.Seal = await SealAsync(storage.State);
            }
            catch (Exception e)
            {
                logger.LogWarning("API key {KeyId} revoked without a new seal ({Error}): its record will fail its check", storage.State.KeyId, e.GetType().Name);
            }

            await storage.WriteStateAsync();
        }
        catch
        {
            // Stay revoked in memory: refusing a key that storage still calls active is the safe side.
            DeactivateOnIdle();
            throw;
        }
    }

    public async Task<bool> SealIfUnsealed()
    {
        if (storage.State.OrganizationId is null || storage.State.Seal is not null)
        {
            return false;
        }

        storage.State.Seal = await SealAsync(storage.State);
        await storage.WriteStateAsync();
        checkedSeal = SealCheck.Valid;
        return true;
    }

    private async Task<bool> IsTrustedAsync()
    {
        // Checked once per activation: memory holds what was checked, and this grain's own writes are sealed.
        checkedSeal ??= await seal.CheckAsync(storage.State.Seal, Kind, KeyHash, Fields(storage.State));
        if (checkedSeal == SealCheck.Broken)
        {
            // A key revoked while the key service was down is stored without a new seal (see Revoke):
            // expected, and refused either way, so not an error each time someone presents it.
            if (storage.State.Revoked)
            {
                return false;
            }

            logger.LogError("API key {KeyId}: stored record failed its integrity check (changed outside the service); the key is refused", storage.State.KeyId);
            return false;
        }

        return true;
    }

    private Task<byte[]> SealAsync(ApiKeyState state) => seal.SealAsync(Kind, KeyHash, Fields(state));

    private static string[] Fields(ApiKeyState state) => [state.OrganizationId ?? "", state.KeyId ?? "", state.Revoked ? "revoked" : "active"];
}
