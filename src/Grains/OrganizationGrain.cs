using Microsoft.Extensions.Logging;
using VaultGrains.Domain;
using VaultGrains.Grains.Audit;

namespace VaultGrains.Grains;

[GenerateSerializer, Alias("VaultGrains.Grains.OrganizationState")]
internal sealed class OrganizationState
{
    [Id(0)] public string? Name { get; set; }
    [Id(1)] public DateTime CreatedAt { get; set; }
    [Id(2)] public List<VaultDetails> Vaults { get; set; } = [];
    [Id(3)] public List<StoredApiKey> ApiKeys { get; set; } = [];
    [Id(4)] public List<string> RuntimeIds { get; set; } = [];
}

[GenerateSerializer, Immutable, Alias("VaultGrains.Grains.StoredApiKey")]
internal sealed record StoredApiKey(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] string Hint,
    [property: Id(3)] DateTime CreatedAt,
    [property: Id(4)] string KeyHash)
{
    public ApiKeyDetails ToDetails() => new(Id, Name, Hint, CreatedAt);
}

/// <summary>
/// One organization. Vault summaries are kept here so listing never touches every vault; a vault
/// reports its new summary after each write (before acknowledging it), and those updates are
/// written in the background (the vault itself is the truth for its secrets and re-sends its
/// summary when it changes). Creating and deleting a vault go through here, so the listing and the
/// vaults agree, and no call ever goes from a vault back to a busy organization.
/// </summary>
internal sealed class OrganizationGrain(
    [PersistentState("organization", StorageNames.Organizations)] IPersistentState<OrganizationState> storage,
    TimeProvider clock,
    ILogger<OrganizationGrain> logger) : Grain, IOrganizationGrain
{
    private static readonly TimeSpan SummaryFlushPeriod = TimeSpan.FromSeconds(2);
    private bool summariesDirty;
    private IGrainTimer? summaryFlush;

    private string OrganizationId => this.GetPrimaryKeyString();

    private bool Exists => storage.State.Name is not null;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        summaryFlush = this.RegisterGrainTimer(FlushSummariesAsync, new GrainTimerCreationOptions(SummaryFlushPeriod, SummaryFlushPeriod));
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        summaryFlush?.Dispose();
        await FlushSummariesAsync(cancellationToken);
    }

    public async Task<VaultReply<OrganizationDetails>> Create(string name)
    {
        if (Exists)
        {
            return VaultReply<OrganizationDetails>.Fail(VaultError.AlreadyExists);
        }

        if (await GrainFactory.RecordAsync(OrganizationId, "organization.create", 201, new AuditResource()) is var audited && audited != VaultError.None)
        {
            return VaultReply<OrganizationDetails>.Fail(audited);
        }

        storage.State.Name = name;
        storage.State.CreatedAt = Timestamps.TruncateToMilliseconds(clock.GetUtcNow().UtcDateTime);
        if (!await TryWriteAsync())
        {
            return VaultReply<OrganizationDetails>.Fail(VaultError.Unavailable);
        }

        await GrainFactory.GetGrain<IOrganizationDirectoryGrain>(0).Add(OrganizationId);
        return VaultReply<OrganizationDetails>.Ok(Details());
    }

    public Task<VaultReply<OrganizationDetails>> Get() =>
        Task.FromResult(Exists
            ? VaultReply<OrganizationDetails>.Ok(Details())
            : VaultReply<OrganizationDetails>.Fail(VaultError.OrganizationNotFound));

    public async Task<VaultReply<VaultDetails>> CreateVault(string vaultId, string name, string? description)
    {
        if (!Exists)
        {
            return VaultReply<VaultDetails>.Fail(VaultError.OrganizationNotFound);
        }

        // A repeat of a create whose answer was lost (same vault id) gets the original's answer.
        if (storage.State.Vaults.Find(v => v.Id == vaultId) is { } listed)
        {
            return VaultReply<VaultDetails>.Ok(listed);
        }

        var vault = GrainFactory.GetGrain<IVaultGrain>(vaultId);
        var created = await vault.Create(new NewVault(OrganizationId, name, description));
        if (!created.Succeeded)
        {
            return created;
        }

        InsertInIdOrder(storage.State.Vaults, created.Value!, v => v.Id);
        if (!await TryWriteAsync())
        {
            // Do not leave a vault that no listing shows.
            await vault.Delete(OrganizationId);
            return VaultReply<VaultDetails>.Fail(VaultError.Unavailable);
        }

        return created;
    }

    public Task<VaultReply<IReadOnlyList<VaultDetails>>> ListVaults() =>
        Task.FromResult(Exists
            ? VaultReply<IReadOnlyList<VaultDetails>>.Ok(storage.State.Vaults.ToArray())
            : VaultReply<IReadOnlyList<VaultDetails>>.Fail(VaultError.OrganizationNotFound));

    public Task VaultChanged(VaultDetails vault)
    {
        var index = storage.State.Vaults.FindIndex(v => v.Id == vault.Id);
        if (index >= 0 && storage.State.Vaults[index] != vault)
        {
            storage.State.Vaults[index] = vault;
            summariesDirty = true;
        }

        return Task.CompletedTask;
    }

    public async Task<VaultReply<VaultDetails>> DeleteVault(string vaultId)
    {
        if (!Exists)
        {
            return VaultReply<VaultDetails>.Fail(VaultError.OrganizationNotFound);
        }

        var deleted = await GrainFactory.GetGrain<IVaultGrain>(vaultId).Delete(OrganizationId);
        var gone = deleted.Succeeded || deleted.Error == VaultError.VaultNotFound;
        if (gone && storage.State.Vaults.RemoveAll(v => v.Id == vaultId) > 0 && !await TryWriteAsync())
        {
            // The vault is gone but the listing still shows it; a retried DELETE finishes the job.
            return VaultReply<VaultDetails>.Fail(VaultError.Unavailable);
        }

        return deleted;
    }

    public Task<IReadOnlyList<string>> GetVaultIds() =>
        Task.FromResult<IReadOnlyList<string>>(storage.State.Vaults.Select(v => v.Id).ToArray());

    public async Task<VaultReply<ApiKeyDetails>> CreateApiKey(NewApiKey key)
    {
        if (!Exists)
        {
            return VaultReply<ApiKeyDetails>.Fail(VaultError.OrganizationNotFound);
        }

        if (await GrainFactory.RecordAsync(OrganizationId, "api_key.create", 201, new AuditResource(KeyId: key.Id)) is var audited && audited != VaultError.None)
        {
            return VaultReply<ApiKeyDetails>.Fail(audited);
        }

        var stored = new StoredApiKey(key.Id, key.Name, key.Hint, Timestamps.TruncateToMilliseconds(clock.GetUtcNow().UtcDateTime), key.KeyHash);
        storage.State.ApiKeys.Add(stored);
        if (!await TryWriteAsync())
        {
            return VaultReply<ApiKeyDetails>.Fail(VaultError.Unavailable);
        }

        // Listed first, usable second: a key that works is always one the operator can see and revoke.
        await GrainFactory.GetGrain<IApiKeyGrain>(key.KeyHash).Register(OrganizationId, key.Id);
        return VaultReply<ApiKeyDetails>.Ok(stored.ToDetails());
    }

    public Task<VaultReply<IReadOnlyList<ApiKeyDetails>>> ListApiKeys() =>
        Task.FromResult(Exists
            ? VaultReply<IReadOnlyList<ApiKeyDetails>>.Ok(storage.State.ApiKeys.Select(k => k.ToDetails()).ToArray())
            : VaultReply<IReadOnlyList<ApiKeyDetails>>.Fail(VaultError.OrganizationNotFound));

    public async Task<VaultReply<ApiKeyDetails>> RevokeApiKey(string keyId)
    {
        if (!Exists)
        {
            return VaultReply<ApiKeyDetails>.Fail(VaultError.OrganizationNotFound);
        }

        if (storage.State.ApiKeys.Find(k => k.Id == keyId) is not { } key)
        {
            return VaultReply<ApiKeyDetails>.Fail(VaultError.ApiKeyNotFound);
        }

        // Refused first, unlisted second: a key never stays usable after it left the listing.
        await GrainFactory.GetGrain<IApiKeyGrain>(key.KeyHash).Revoke();

        // A revocation only takes access away, so an audit outage must not block it: the event is
        // recorded after the fact, and its loss is logged.
        if (await GrainFactory.RecordAsync(OrganizationId, "api_key.revoke", 204, new AuditResource(KeyId: key.Id)) != VaultError.None)
        {
            logger.LogError("Organization {OrganizationId}: API key {KeyId} revoked, but the audit trail did not record it", OrganizationId, key.Id);
        }

        storage.State.ApiKeys.Remove(key);
        if (!await TryWriteAsync())
        {
            return VaultReply<ApiKeyDetails>.Fail(VaultError.Unavailable);
        }

        return VaultReply<ApiKeyDetails>.Ok(key.ToDetails());
    }

    public async Task<VaultReply<RuntimeDetails>> CreateRuntime(NewRuntime runtime)
    {
        if (!Exists)
        {
            return VaultReply<RuntimeDetails>.Fail(VaultError.OrganizationNotFound);
        }

        var grain = GrainFactory.GetGrain<IRuntimeGrain>(runtime.Id);
        var created = await grain.Create(OrganizationId, runtime);
        if (!created.Succeeded || storage.State.RuntimeIds.Contains(runtime.Id))
        {
            return created;
        }

        InsertInIdOrder(storage.State.RuntimeIds, runtime.Id, id => id);
        if (!await TryWriteAsync())
        {
            // Do not leave a runtime (and a working token) that no listing shows.
            await grain.Delete(OrganizationId);
            return VaultReply<RuntimeDetails>.Fail(VaultError.Unavailable);
        }

        return created;
    }

    public async Task<VaultReply<IReadOnlyList<RuntimeDetails>>> ListRuntimes()
    {
        if (!Exists)
        {
            return VaultReply<IReadOnlyList<RuntimeDetails>>.Fail(VaultError.OrganizationNotFound);
        }

        var replies = await Task.WhenAll(storage.State.RuntimeIds.Select(id => GrainFactory.GetGrain<IRuntimeGrain>(id).Get(OrganizationId)));
        if (Array.Find(replies, r => r.Error is not (VaultError.None or VaultError.RuntimeNotFound)) is { } failed)
        {
            return VaultReply<IReadOnlyList<RuntimeDetails>>.Fail(failed.Error);
        }

        return VaultReply<IReadOnlyList<RuntimeDetails>>.Ok(replies.Where(r => r.Succeeded).Select(r => r.Value!).ToArray());
    }

    public async Task<VaultReply<RuntimeDetails>> DeleteRuntime(string runtimeId)
    {
        if (!Exists)
        {
            return VaultReply<RuntimeDetails>.Fail(VaultError.OrganizationNotFound);
        }

        var deleted = await GrainFactory.GetGrain<IRuntimeGrain>(runtimeId).Delete(OrganizationId);
        var gone = deleted.Succeeded || deleted.Error == VaultError.RuntimeNotFound;
        if (gone && storage.State.RuntimeIds.Remove(runtimeId) && !await TryWriteAsync())
        {
            return VaultReply<RuntimeDetails>.Fail(VaultError.Unavailable);
        }

        return deleted;
    }

    // Ids are ULIDs minted by the API, so id order is creation order even when creates race here.
    private static void InsertInIdOrder<T>(List<T> items, T item, Func<T, string> id)
    {
        var index = items.Count;
        while (index > 0 && string.CompareOrdinal(id(items[index - 1]), id(item)) > 0)
        {
            index--;
        }

        items.Insert(index, item);
    }

    private OrganizationDetails Details() => new(OrganizationId, storage.State.Name!, storage.State.CreatedAt);

    private async Task FlushSummariesAsync(CancellationToken cancellationToken)
    {
        if (summariesDirty)
        {
            await TryWriteAsync();
        }
    }

    private Task<bool> TryWriteAsync()
    {
        // Cleared before the write: a summary that interleaves during the write marks it dirty again.
        summariesDirty = false;
        return storage.TryWriteOrReloadAsync(logger, $"Organization {OrganizationId}", DeactivateOnIdle);
    }
}
