using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using VaultGrains.Domain;
using VaultGrains.Grains.Audit;
using VaultGrains.Grains.Crypto;

namespace VaultGrains.Grains;

[GenerateSerializer, Alias("VaultGrains.Grains.RuntimeState")]
internal sealed class RuntimeState
{
    [Id(0)] public string? OrganizationId { get; set; }
    [Id(1)] public string Name { get; set; } = "";
    [Id(2)] public List<string> VaultIds { get; set; } = [];
    [Id(3)] public string TokenHash { get; set; } = "";
    [Id(4)] public DateTime CreatedAt { get; set; }
    [Id(5)] public DateTime UpdatedAt { get; set; }

    /// <summary>HMAC under the state key over the runtime id, organization, token hash and vault ids (<see cref="Crypto.CredentialSeal"/>).</summary>
    [Id(6)] public byte[]? Seal { get; set; }
}

/// <summary>
/// One runtime. The proxy addresses it by the runtime id in its credentials and proves the token
/// by its hash, so a rotation or a delete takes effect with the next check, and only a hash is stored.
/// The record is sealed under the cluster's state key: one whose organization, token hash or vaults
/// were changed in storage fails its check when activated and is treated as not existing.
/// </summary>
internal sealed class RuntimeGrain(
    [PersistentState("runtime", StorageNames.Runtimes)] IPersistentState<RuntimeState> storage,
    CredentialSeal seal,
    TimeProvider clock,
    ILogger<RuntimeGrain> logger) : Grain, IRuntimeGrain
{
    private static readonly TimeSpan SubscriptionLifetime = TimeSpan.FromMinutes(1);
    private readonly Dictionary<IRuntimeObserver, long> observers = [];

    // Starts anywhere, so a new activation never repeats a stamp an earlier one handed out.
    private long stamp = Random.Shared.NextInt64();

    // Told by the organization when it is switched off or on; read from it when this activation starts.
    private bool organizationDisabled;

    private string RuntimeId => this.GetPrimaryKeyString();

    private RuntimeState State => storage.State;

    private const string SealKind = "runtime";

    // A stored record that failed its seal check: it does not exist for any caller.
    private bool integrityFailed;

    private bool Exists => State.OrganizationId is not null && !integrityFailed;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (State.OrganizationId is not { } organizationId)
        {
            return;
        }

        if (await seal.CheckAsync(State.Seal, SealKind, RuntimeId, SealFields(State)) == SealCheck.Broken)
        {
            integrityFailed = true;
            logger.LogError("Runtime {RuntimeId}: stored record failed its integrity check (changed outside the service); its token is refused", RuntimeId);
            return;
        }

        organizationDisabled = await GrainFactory.ReferenceTo<IOrganizationGrain>(organizationId).IsDisabled();
    }

    public async Task<bool> SealIfUnsealed()
    {
        if (!Exists || State.Seal is not null)
        {
            return false;
        }

        return await TryWriteAsync();
    }

    public Task OrganizationAccessChanged(bool disabled)
    {
        if (organizationDisabled != disabled)
        {
            organizationDisabled = disabled;
            Changed();
        }

        return Task.CompletedTask;
    }

    public async Task<VaultReply<RuntimeDetails>> Create(string organizationId, NewRuntime runtime)
    {
        if (Exists)
        {
            return State.OrganizationId == organizationId && State.Name == runtime.Name && State.TokenHash == runtime.TokenHash
                && State.VaultIds.SequenceEqual(runtime.VaultIds, StringComparer.Ordinal)
                ? VaultReply<RuntimeDetails>.Ok(Details())
                : VaultReply<RuntimeDetails>.Fail(VaultError.AlreadyExists);
        }

        if (await AttachAllAsync(organizationId, runtime.VaultIds) is { } attachError)
        {
            return VaultReply<RuntimeDetails>.Fail(attachError);
        }

        if (await GrainFactory.RecordAsync(organizationId, "runtime.create", 201, new AuditResource(RuntimeId: RuntimeId)) is var audited && audited != VaultError.None)
        {
            await DetachAllAsync(organizationId, runtime.VaultIds);
            return VaultReply<RuntimeDetails>.Fail(audited);
        }

        var now = Now();
        State.OrganizationId = organizationId;
        State.Name = runtime.Name;
        State.VaultIds = [.. runtime.VaultIds];
        State.TokenHash = runtime.TokenHash;
        State.CreatedAt = now;
        State.UpdatedAt = now;
        if (!await TryWriteAsync())
        {
            await DetachAllAsync(organizationId, runtime.VaultIds);
            return VaultReply<RuntimeDetails>.Fail(VaultError.Unavailable);
        }

        return VaultReply<RuntimeDetails>.Ok(Details());
    }

    public Task<VaultReply<RuntimeDetails>> Get(string organizationId) =>
        Task.FromResult(IsOwnedBy(organizationId)
            ? VaultReply<RuntimeDetails>.Ok(Details())
            : VaultReply<RuntimeDetails>.Fail(VaultError.RuntimeNotFound));

    public async Task<VaultReply<RuntimeDetails>> Update(string organizationId, RuntimeChanges changes)
    {
        if (!IsOwnedBy(organizationId))
        {
            return VaultReply<RuntimeDetails>.Fail(VaultError.RuntimeNotFound);
        }

        var name = changes.Name ?? State.Name;
        var vaultIds = changes.VaultIds ?? State.VaultIds;
        if (name == State.Name && vaultIds.SequenceEqual(State.VaultIds, StringComparer.Ordinal))
        {
            return VaultReply<RuntimeDetails>.Ok(Details());
        }

        var added = vaultIds.Except(State.VaultIds, StringComparer.Ordinal).ToList();
        var removed = State.VaultIds.Except(vaultIds, StringComparer.Ordinal).ToList();
        if (await AttachAllAsync(organizationId, added) is { } attachError)
        {
            return VaultReply<RuntimeDetails>.Fail(attachError);
        }

        // Vault first: a detached vault stops releasing before this record forgets it.
        if (await DetachAllAsync(organizationId, removed) is { } detachError)
        {
            await DetachAllAsync(organizationId, added);
            return VaultReply<RuntimeDetails>.Fail(detachError);
        }

        if (await GrainFactory.RecordAsync(organizationId, "runtime.update", 200, new AuditResource(RuntimeId: RuntimeId)) is var audited && audited != VaultError.None)
        {
            // Put the vaults back as they were: attach what was detached, detach what was attached.
            await AttachAllAsync(organizationId, removed);
            await DetachAllAsync(organizationId, added);
            return VaultReply<RuntimeDetails>.Fail(audited);
        }

        State.Name = name;
        State.VaultIds = [.. vaultIds];
        State.UpdatedAt = Now();
        if (!await TryWriteAsync())
        {
            await DetachAllAsync(organizationId, added);
            return VaultReply<RuntimeDetails>.Fail(VaultError.Unavailable);
        }

        Changed();
        return VaultReply<RuntimeDetails>.Ok(Details());
    }

    public async Task<VaultReply<RuntimeDetails>> RotateToken(string organizationId, string tokenHash)
    {
        if (!IsOwnedBy(organizationId))
        {
            return VaultReply<RuntimeDetails>.Fail(VaultError.RuntimeNotFound);
        }

        State.TokenHash = tokenHash;
        State.UpdatedAt = Now();
        Changed();
        if (await TryWriteAsync())
        {
            await RecordAfterTheFactAsync(organizationId, "runtime.token_rotate", 201);
            return VaultReply<RuntimeDetails>.Ok(Details());
        }

        // Storage may still hold the old hash: this activation honours no token until a rotation
        // succeeds, rather than let the token the caller meant to void work again.
        State.TokenHash = "";
        return VaultReply<RuntimeDetails>.Fail(VaultError.Unavailable);
    }

    public async Task<VaultReply<RuntimeDetails>> Delete(string organizationId)
    {
        if (!IsOwnedBy(organizationId))
        {
            return VaultReply<RuntimeDetails>.Fail(VaultError.RuntimeNotFound);
        }

        var details = Details();
        if (await DetachAllAsync(organizationId, State.VaultIds) is { } detachError)
        {
            return VaultReply<RuntimeDetails>.Fail(detachError);
        }

        try
        {
            await storage.ClearStateAsync();
        }
        catch (Exception e)
        {
            logger.LogWarning("Runtime {RuntimeId} delete failed: {Error}", RuntimeId, e.GetType().Name);
            DeactivateOnIdle();
            return VaultReply<RuntimeDetails>.Fail(VaultError.Unavailable);
        }

        storage.State = new RuntimeState();
        Changed();
        await RecordAfterTheFactAsync(organizationId, "runtime.delete", 204);
        return VaultReply<RuntimeDetails>.Ok(details);
    }

    public async Task<VaultReply<RuntimeRelease>> Release(string tokenHash)
    {
        if (!HoldsToken(tokenHash) || organizationDisabled)
        {
            return VaultReply<RuntimeRelease>.Fail(VaultError.RuntimeNotFound);
        }

        // Taken before the vaults answer: a change that lands meanwhile moves the stamp past this
        // one, so the proxy's next check reloads.
        var releasedAt = stamp;
        var vaultIds = State.VaultIds.ToArray();
        var replies = await Task.WhenAll(vaultIds.Select(id => GrainFactory.ReferenceTo<IVaultGrain>(id).ReleaseToRuntime(RuntimeId)));
        var secrets = new List<ReleasedSecret>();
        var envKeys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var reply in replies)
        {
            if (reply.Error is VaultError.VaultNotFound or VaultError.RuntimeNotAttached)
            {
                continue;
            }

            if (!reply.Succeeded)
            {
                return VaultReply<RuntimeRelease>.Fail(reply.Error);
            }

            // The first vault listed wins an env_key.
            secrets.AddRange(reply.Value!.Where(secret => envKeys.Add(secret.EnvKey)));
        }

        // Switched off (or deleted) while the vaults answered.
        if (organizationDisabled || !Exists)
        {
            return VaultReply<RuntimeRelease>.Fail(VaultError.RuntimeNotFound);
        }

        return VaultReply<RuntimeRelease>.Ok(new RuntimeRelease(RuntimeId, State.OrganizationId!, secrets, releasedAt));
    }

    public Task<RuntimeOwner?> Owner() =>
        Task.FromResult(Exists ? new RuntimeOwner(State.OrganizationId!, organizationDisabled) : null);

    public Task<long?> CheckStamp(string tokenHash) => Task.FromResult(HoldsToken(tokenHash) && !organizationDisabled ? stamp : (long?)null);

    public Task SecretsChanged(string vaultId)
    {
        if (State.VaultIds.Contains(vaultId, StringComparer.Ordinal))
        {
            Changed();
        }

        return Task.CompletedTask;
    }

    public Task Subscribe(IRuntimeObserver observer)
    {
        observers[observer] = clock.GetTimestamp() + (long)(SubscriptionLifetime.TotalSeconds * clock.TimestampFrequency);
        return Task.CompletedTask;
    }

    // Rotating a token and deleting a runtime only take access away, so an audit outage must not
    // block them (a leaked token must be voidable): the event follows the change, its loss is logged.
    private async Task RecordAfterTheFactAsync(string organizationId, string action, int status)
    {
        if (await GrainFactory.RecordAsync(organizationId, action, status, new AuditResource(RuntimeId: RuntimeId)) != VaultError.None)
        {
            logger.LogError("Runtime {RuntimeId}: {Action} done, but the audit trail did not record it", RuntimeId, action);
        }
    }

    private bool IsOwnedBy(string organizationId) => Exists && State.OrganizationId == organizationId;

    private bool HoldsToken(string tokenHash) =>
        Exists && State.TokenHash.Length > 0 && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(tokenHash), Encoding.ASCII.GetBytes(State.TokenHash));

    private RuntimeDetails Details() => new(RuntimeId, State.Name, State.VaultIds.ToArray(), State.CreatedAt, State.UpdatedAt);

    /// <summary>Moves the stamp and tells every subscribed proxy to drop what it holds for this runtime.</summary>
    private void Changed()
    {
        stamp++;
        var now = clock.GetTimestamp();
        foreach (var (observer, expiresAt) in observers.ToArray())
        {
            if (expiresAt < now)
            {
                observers.Remove(observer);
                continue;
            }

            try
            {
                observer.RuntimeChanged(RuntimeId).Ignore();
            }
            catch (Exception e)
            {
                observers.Remove(observer);
                logger.LogDebug("Runtime {RuntimeId} dropped an observer: {Error}", RuntimeId, e.GetType().Name);
            }
        }
    }

    private async Task<VaultError?> AttachAllAsync(string organizationId, IReadOnlyList<string> vaultIds)
    {
        var errors = await Task.WhenAll(vaultIds.Select(id => GrainFactory.ReferenceTo<IVaultGrain>(id).AttachRuntime(organizationId, RuntimeId)));
        if (Array.Find(errors, e => e != VaultError.None) is var error && error == VaultError.None)
        {
            return null;
        }

        // Do not leave a vault believing it is held by a runtime that does not list it.
        await DetachAllAsync(organizationId, vaultIds);
        return error;
    }

    private async Task<VaultError?> DetachAllAsync(string organizationId, IReadOnlyList<string> vaultIds)
    {
        var errors = await Task.WhenAll(vaultIds.Select(id => GrainFactory.ReferenceTo<IVaultGrain>(id).DetachRuntime(organizationId, RuntimeId)));
        return Array.Find(errors, e => e != VaultError.None) is var error && error != VaultError.None ? error : null;
    }

    private async Task<bool> TryWriteAsync()
    {
        try
        {
            State.Seal = await seal.SealAsync(SealKind, RuntimeId, SealFields(State));
        }
        catch (Exception e)
        {
            // Nothing written: memory goes back to what storage holds.
            logger.LogWarning("Runtime {RuntimeId} not written: its record could not be sealed ({Error})", RuntimeId, e.GetType().Name);
            await storage.ReadStateAsync();
            return false;
        }

        return await storage.TryWriteOrReloadAsync(logger, $"Runtime {RuntimeId}", DeactivateOnIdle);
    }

    private static string[] SealFields(RuntimeState state) => [state.OrganizationId ?? "", state.TokenHash, string.Join('\n', state.VaultIds)];

    private DateTime Now() => Timestamps.TruncateToMilliseconds(clock.GetUtcNow().UtcDateTime);
}
