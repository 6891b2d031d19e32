using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
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
    [Id(5)] public bool Disabled { get; set; }
    [Id(6)] public int? VaultLimit { get; set; }
    [Id(7)] public int? RuntimeLimit { get; set; }
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
/// <remarks>
/// Reentrant: a vault create waits seconds on Key Vault, and a revocation or a switch-off must never
/// queue behind it (issue 11). Every check-and-change is therefore synchronous (between awaits):
/// quotas count the creates in flight as reservations, and all writes go through one coalescing
/// writer (<see cref="PersistAsync"/>), so concurrent calls never race on the storage ETag.
/// </remarks>
[Reentrant]
internal sealed class OrganizationGrain(
    [PersistentState("organization", StorageNames.Organizations)] IPersistentState<OrganizationState> storage,
    TimeProvider clock,
    ILogger<OrganizationGrain> logger) : Grain, IOrganizationGrain
{
    private static readonly TimeSpan SummaryFlushPeriod = TimeSpan.FromSeconds(2);
    private readonly Dictionary<string, Task<VaultReply<VaultDetails>>> creatingVaults = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task<VaultReply<RuntimeDetails>>> creatingRuntimes = new(StringComparer.Ordinal);

    // Slots taken by creates that are not listed yet; a listed one (still being written) counts in the listing.
    private int reservedVaults;
    private int reservedRuntimes;
    private readonly SemaphoreSlim writeTurn = new(1, 1);
    private long changesRequested;
    private long changesWritten;
    private bool writeFailed;
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

        if (Exists)
        {
            return VaultReply<OrganizationDetails>.Fail(VaultError.AlreadyExists);
        }

        storage.State.Name = name;
        storage.State.CreatedAt = Timestamps.TruncateToMilliseconds(clock.GetUtcNow().UtcDateTime);
        if (!await PersistAsync())
        {
            // Not created as far as anyone may be told, until the next activation reads storage.
            storage.State.Name = null;
            return VaultReply<OrganizationDetails>.Fail(VaultError.Unavailable);
        }

        await GrainFactory.GetGrain<IOrganizationDirectoryGrain>(0).Add(OrganizationId);
        return VaultReply<OrganizationDetails>.Ok(Details());
    }

    public Task<VaultReply<OrganizationDetails>> Get() =>
        Task.FromResult(Exists
            ? VaultReply<OrganizationDetails>.Ok(Details())
            : VaultReply<OrganizationDetails>.Fail(VaultError.OrganizationNotFound));

    public Task<VaultReply<VaultDetails>> CreateVault(string vaultId, string name, string? description)
    {
        if (!Exists || writeFailed)
        {
            return Task.FromResult(VaultReply<VaultDetails>.Fail(Exists ? VaultError.Unavailable : VaultError.OrganizationNotFound));
        }

        // A repeat of a create whose answer was lost (same vault id) gets the original's answer.
        if (storage.State.Vaults.Find(v => v.Id == vaultId) is { } listed)
        {
            return Task.FromResult(VaultReply<VaultDetails>.Ok(listed));
        }

        if (creatingVaults.TryGetValue(vaultId, out var inFlight))
        {
            return inFlight;
        }

        // The check and the reservation happen in one turn, with no await between: the quota is exact.
        if (storage.State.Vaults.Count + reservedVaults >= Limits.Vaults)
        {
            return Task.FromResult(VaultReply<VaultDetails>.Fail(VaultError.VaultLimitReached));
        }

        reservedVaults++;
        var creating = CreateReservedVaultAsync(vaultId, new NewVault(OrganizationId, name, description));
        creatingVaults[vaultId] = creating;
        return creating;
    }

    private async Task<VaultReply<VaultDetails>> CreateReservedVaultAsync(string vaultId, NewVault request)
    {
        // Runs after the reservation is recorded, so its removal below can never precede it.
        await Task.Yield();
        var reserved = true;
        try
        {
            // The organization's other calls go on while the vault waits for Key Vault.
            var vault = GrainFactory.ReferenceTo<IVaultGrain>(vaultId);
            var created = await vault.Create(request);
            if (!created.Succeeded)
            {
                return created;
            }

            // The slot passes from the reservation to the listing in one step.
            InsertInIdOrder(storage.State.Vaults, created.Value!, v => v.Id);
            reservedVaults--;
            reserved = false;
            if (!await PersistAsync())
            {
                // Do not leave a vault that no listing shows.
                storage.State.Vaults.RemoveAll(v => v.Id == vaultId);
                await vault.Delete(OrganizationId);
                return VaultReply<VaultDetails>.Fail(VaultError.Unavailable);
            }

            return created;
        }
        finally
        {
            creatingVaults.Remove(vaultId);
            if (reserved)
            {
                reservedVaults--;
            }
        }
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

        // Not listed yet, so no caller was told of it: it does not exist for them.
        if (creatingVaults.ContainsKey(vaultId))
        {
            return VaultReply<VaultDetails>.Fail(VaultError.VaultNotFound);
        }

        var deleted = await GrainFactory.ReferenceTo<IVaultGrain>(vaultId).Delete(OrganizationId);
        var gone = deleted.Succeeded || deleted.Error == VaultError.VaultNotFound;
        if (gone && storage.State.Vaults.RemoveAll(v => v.Id == vaultId) > 0 && !await PersistAsync())
        {
            // The vault is gone but the listing still shows it; a retried DELETE finishes the job.
            return VaultReply<VaultDetails>.Fail(VaultError.Unavailable);
        }

        return deleted;
    }

    public Task<IReadOnlyList<string>> GetVaultIds() =>
        Task.FromResult<IReadOnlyList<string>>(storage.State.Vaults.Select(v => v.Id).ToArray());

    public Task<CredentialRecords> GetCredentialRecords() =>
        Task.FromResult(new CredentialRecords(storage.State.ApiKeys.Select(k => k.KeyHash).ToArray(), storage.State.RuntimeIds.ToArray()));

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
        if (!await PersistAsync())
        {
            return VaultReply<ApiKeyDetails>.Fail(VaultError.Unavailable);
        }

        // Listed first, usable second: a key that works is always one the operator can see and revoke.
        await GrainFactory.ReferenceTo<IApiKeyGrain>(key.KeyHash).Register(OrganizationId, key.Id);
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

        // Refused first, unlisted second: a key never stays usable after it left the listing. The
        // key's own grain answers at once; nothing here waits for the organization's other calls.
        await GrainFactory.ReferenceTo<IApiKeyGrain>(key.KeyHash).Revoke();

        // A revocation only takes access away, so an audit outage must not block it: the event is
        // recorded after the fact, and its loss is logged.
        if (await GrainFactory.RecordAsync(OrganizationId, "api_key.revoke", 204, new AuditResource(KeyId: key.Id)) != VaultError.None)
        {
            logger.LogError("Organization {OrganizationId}: API key {KeyId} revoked, but the audit trail did not record it", OrganizationId, key.Id);
        }

        // A concurrent revoke of the same key may have unlisted it already; its write carries the change.
        storage.State.ApiKeys.Remove(key);
        if (!await PersistAsync())
        {
            return VaultReply<ApiKeyDetails>.Fail(VaultError.Unavailable);
        }

        return VaultReply<ApiKeyDetails>.Ok(key.ToDetails());
    }

    public Task<bool> IsDisabled() => Task.FromResult(storage.State.Disabled);

    public async Task<VaultReply<OrganizationDetails>> Update(OrganizationChanges changes)
    {
        if (!Exists || writeFailed)
        {
            return VaultReply<OrganizationDetails>.Fail(Exists ? VaultError.Unavailable : VaultError.OrganizationNotFound);
        }

        var state = storage.State;
        var disabled = changes.Disabled ?? state.Disabled;
        var vaultLimit = changes.VaultLimit ?? Limits.Vaults;
        var runtimeLimit = changes.RuntimeLimit ?? Limits.Runtimes;
        if (disabled == state.Disabled && vaultLimit == Limits.Vaults && runtimeLimit == Limits.Runtimes)
        {
            return VaultReply<OrganizationDetails>.Ok(Details());
        }

        // Switching off and lowering limits only take away, so, like a revocation, they must not
        // wait for (or fail with) the audit trail; anything that grants is recorded first.
        var onlyTakesAway = (disabled || !state.Disabled) && vaultLimit <= Limits.Vaults && runtimeLimit <= Limits.Runtimes;
        if (!onlyTakesAway)
        {
            var audited = await GrainFactory.RecordAsync(OrganizationId, "organization.update", 200, new AuditResource());
            if (audited != VaultError.None)
            {
                return VaultReply<OrganizationDetails>.Fail(audited);
            }
        }

        var accessChanged = disabled != state.Disabled;
        state.Disabled = disabled;
        state.VaultLimit = changes.VaultLimit ?? state.VaultLimit;
        state.RuntimeLimit = changes.RuntimeLimit ?? state.RuntimeLimit;
        if (!await PersistAsync())
        {
            return VaultReply<OrganizationDetails>.Fail(VaultError.Unavailable);
        }

        if (accessChanged)
        {
            // Runtimes refuse (or serve again) before this call answers; API keys are checked against
            // this grain's memory, which already holds the change. A runtime that cannot be told now
            // reads the organization when it next activates.
            await Task.WhenAll(storage.State.RuntimeIds.Concat(creatingRuntimes.Keys).Distinct(StringComparer.Ordinal)
                .Select(TellRuntimeAsync));
        }

        if (onlyTakesAway && await GrainFactory.RecordAsync(OrganizationId, "organization.update", 200, new AuditResource()) != VaultError.None)
        {
            logger.LogError("Organization {OrganizationId} updated, but the audit trail did not record it", OrganizationId);
        }

        return VaultReply<OrganizationDetails>.Ok(Details());
    }

    public Task<VaultReply<RuntimeDetails>> CreateRuntime(NewRuntime runtime)
    {
        if (!Exists || writeFailed)
        {
            return Task.FromResult(VaultReply<RuntimeDetails>.Fail(Exists ? VaultError.Unavailable : VaultError.OrganizationNotFound));
        }

        if (creatingRuntimes.TryGetValue(runtime.Id, out var inFlight))
        {
            return inFlight;
        }

        // A listed runtime is a repeat: its grain answers it (or refuses a different create).
        var listed = storage.State.RuntimeIds.Contains(runtime.Id);
        if (!listed && storage.State.RuntimeIds.Count + reservedRuntimes >= Limits.Runtimes)
        {
            return Task.FromResult(VaultReply<RuntimeDetails>.Fail(VaultError.RuntimeLimitReached));
        }

        var creating = CreateReservedRuntimeAsync(runtime, reserve: !listed);
        creatingRuntimes[runtime.Id] = creating;
        return creating;
    }

    private async Task<VaultReply<RuntimeDetails>> CreateReservedRuntimeAsync(NewRuntime runtime, bool reserve)
    {
        var reserved = reserve;
        if (reserve)
        {
            reservedRuntimes++;
        }

        await Task.Yield();
        try
        {
            var grain = GrainFactory.ReferenceTo<IRuntimeGrain>(runtime.Id);
            var created = await grain.Create(OrganizationId, runtime);
            if (!created.Succeeded || storage.State.RuntimeIds.Contains(runtime.Id))
            {
                return created;
            }

            InsertInIdOrder(storage.State.RuntimeIds, runtime.Id, id => id);
            if (reserved)
            {
                reservedRuntimes--;
                reserved = false;
            }

            if (!await PersistAsync())
            {
                // Do not leave a runtime (and a working token) that no listing shows.
                storage.State.RuntimeIds.Remove(runtime.Id);
                await grain.Delete(OrganizationId);
                return VaultReply<RuntimeDetails>.Fail(VaultError.Unavailable);
            }

            return created;
        }
        finally
        {
            creatingRuntimes.Remove(runtime.Id);
            if (reserved)
            {
                reservedRuntimes--;
            }
        }
    }

    public async Task<VaultReply<IReadOnlyList<RuntimeDetails>>> ListRuntimes()
    {
        if (!Exists)
        {
            return VaultReply<IReadOnlyList<RuntimeDetails>>.Fail(VaultError.OrganizationNotFound);
        }

        var replies = await Task.WhenAll(storage.State.RuntimeIds.Select(id => GrainFactory.ReferenceTo<IRuntimeGrain>(id).Get(OrganizationId)));
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

        var deleted = await GrainFactory.ReferenceTo<IRuntimeGrain>(runtimeId).Delete(OrganizationId);
        var gone = deleted.Succeeded || deleted.Error == VaultError.RuntimeNotFound;
        if (gone && storage.State.RuntimeIds.Remove(runtimeId) && !await PersistAsync())
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

    private async Task TellRuntimeAsync(string runtimeId)
    {
        try
        {
            await GrainFactory.ReferenceTo<IRuntimeGrain>(runtimeId).OrganizationAccessChanged(storage.State.Disabled);
        }
        catch (Exception e)
        {
            logger.LogError("Organization {OrganizationId}: runtime {RuntimeId} not told of the switch {State}: {Error}",
                OrganizationId, runtimeId, storage.State.Disabled ? "off" : "on", e.GetType().Name);
        }
    }

    private OrganizationLimits Limits => new(
        storage.State.VaultLimit ?? OrganizationLimits.Default.Vaults,
        storage.State.RuntimeLimit ?? OrganizationLimits.Default.Runtimes);

    private OrganizationDetails Details() => new(OrganizationId, storage.State.Name!, storage.State.CreatedAt, storage.State.Disabled, Limits);

    private async Task FlushSummariesAsync(CancellationToken cancellationToken)
    {
        if (summariesDirty)
        {
            await PersistAsync();
        }
    }

    /// <summary>
    /// Persists every change made so far (callers change memory, then await this). One write at a time;
    /// a write that starts after a caller's change carries it, so callers queued behind one write
    /// share the next. After a failed write the outcome is unknown and other calls may already have
    /// changed memory further, so nothing is written again here: every caller is refused and the
    /// activation goes, for the next one to read what storage holds.
    /// </summary>
    private async Task<bool> PersistAsync()
    {
        var change = ++changesRequested;
        await writeTurn.WaitAsync();
        try
        {
            if (writeFailed)
            {
                return false;
            }

            if (changesWritten >= change)
            {
                return true;
            }

            var upTo = changesRequested;

            // Cleared before the write: a summary that interleaves during the write marks it dirty again.
            summariesDirty = false;
            await storage.WriteStateAsync();
            changesWritten = upTo;
            return true;
        }
        catch (Exception e)
        {
            writeFailed = true;
            logger.LogWarning("Organization {OrganizationId} write failed: {Error}", OrganizationId, e.GetType().Name);
            DeactivateOnIdle();
            return false;
        }
        finally
        {
            writeTurn.Release();
        }
    }
}
