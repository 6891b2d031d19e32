namespace VaultGrains.Grains;

[GenerateSerializer, Alias("VaultGrains.Grains.ApiKeyState")]
internal sealed class ApiKeyState
{
    [Id(0)] public string? OrganizationId { get; set; }
    [Id(1)] public string? KeyId { get; set; }
    [Id(2)] public bool Revoked { get; set; }
}

/// <summary>One API key, addressed by its hash. Revocation is final.</summary>
internal sealed class ApiKeyGrain(
    [PersistentState("apikey", StorageNames.ApiKeys)] IPersistentState<ApiKeyState> storage) : Grain, IApiKeyGrain
{
    public async Task Register(string organizationId, string keyId)
    {
        if (storage.State.OrganizationId is not null)
        {
            throw new InvalidOperationException($"API key {keyId} collides with an existing key hash.");
        }

        storage.State.OrganizationId = organizationId;
        storage.State.KeyId = keyId;
        await storage.WriteStateAsync();
    }

    public Task<ResolvedApiKey?> Resolve()
    {
        if (storage.State is { Revoked: false, OrganizationId: { } organizationId, KeyId: { } keyId })
        {
            return Task.FromResult<ResolvedApiKey?>(new ResolvedApiKey(organizationId, keyId));
        }

        // Unknown (a guess) or revoked: do not keep an activation per key an attacker makes up.
        DeactivateOnIdle();
        return Task.FromResult<ResolvedApiKey?>(null);
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
            await storage.WriteStateAsync();
        }
        catch
        {
            // Stay revoked in memory: refusing a key that storage still calls active is the safe side.
            DeactivateOnIdle();
            throw;
        }
    }
}
