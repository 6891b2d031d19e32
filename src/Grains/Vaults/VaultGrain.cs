using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Serialization;
using VaultGrains.Domain;
using VaultGrains.Grains.Audit;
using VaultGrains.Grains.Crypto;

namespace VaultGrains.Grains.Vaults;

/// <summary>
/// One vault: its rules. Reentrant so that creates arriving while a storage write is in flight are
/// validated at once (against the committed state plus the changes already waiting) and written
/// together in the next write: a group commit, kept by <see cref="VaultLog"/>. Each change is
/// acknowledged only after the write that holds it succeeded. Validation and the change itself
/// happen in one turn, so no interleaving can admit a duplicate <c>env_key</c>.
/// </summary>
[Reentrant]
internal sealed class VaultGrain(
    IVaultLogStore logStore,
    Serializer serializer,
    IOptions<VaultLogOptions> logOptions,
    VaultKeyProtector keyProtector,
    CredentialSeal credentialSeal,
    TimeProvider clock,
    IOptions<AuditOptions> auditOptions,
    ILogger<VaultGrain> logger) : Grain, IVaultGrain, IIncomingGrainCallFilter, IVaultLogHooks
{
    private static readonly TimeSpan OrganizationReportTimeout = TimeSpan.FromSeconds(2);
    // A summary the organization did not take is sent again after 1 s, 2 s, 4 s ... at most a minute apart.
    private static readonly TimeSpan FirstReportRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LastReportRetry = TimeSpan.FromMinutes(1);
    // A runtime's proxies must hear of a change within a second; a runtime grain that does not
    // answer by then is reported and the write is acknowledged anyway (its proxies' one-second
    // stamp check still catches the change once the runtime grain is back).
    private static readonly TimeSpan RuntimeNotifyTimeout = TimeSpan.FromSeconds(1);
    // Within Orleans' default call timeout (30 s), so the trail that asks hears the answer.
    private static readonly TimeSpan AuditDeliveryTimeout = TimeSpan.FromSeconds(20);
    private VaultLog log = null!;
    // The log could not be read (a damaged record): every call is refused, nothing is written over it.
    private bool unreadable;
    private Task<VaultKey>? vaultKey;
    private Task<RewrapOutcome>? rewrapping;
    // What storage gave this activation is checked against its seals once, with the first use of
    // the vault key (every change and every release needs the key, so none acts on unchecked state).
    private bool integrityChecked;
    private bool integrityBroken;

    // The summary the organization last confirmed; a report that failed is retried on a timer.
    private VaultDetails? reportedToOrganization;
    private IGrainTimer? reportRetry;
    private TimeSpan nextReportRetry = FirstReportRetry;

    private string VaultId => this.GetPrimaryKeyString();

    private VaultModel Committed => log.Confirmed;

    private VaultModel Working => log.Tentative;

    private bool Stale => log.IsStale || unreadable;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        log = new VaultLog(VaultId, logStore, new VaultLogCodec(serializer), logOptions.Value, this, logger);
        try
        {
            await log.LoadAsync(cancellationToken);
        }
        catch (VaultLogCorruptException e)
        {
            // Loud, and nothing written: an operator restores the record; no acknowledged change is dropped.
            unreadable = true;
            logger.LogError("Vault {VaultId} cannot be read and refuses every call: {Reason}", VaultId, e.Message);
            return;
        }

        reportedToOrganization = Committed.Exists ? Committed.ToDetails(VaultId) : null;
        if (Committed.State.VaultKey is { } wrapped && wrapped.KeyId != keyProtector.CurrentKeyId)
        {
            // Lazy rotation: the first activation under a new KEK moves the vault key in the
            // background. No caller waits for it and none fails if the key service is down.
            _ = RewrapInBackgroundAsync();
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Its background delivery must not outlive it: an activation gone from the directory can
        // no longer make grain calls, and the next activation delivers what this one owed.
        log.Stop();
        if (vaultKey is { IsCompletedSuccessfully: true })
        {
            (await vaultKey).Dispose();
        }
    }

    public async Task<VaultReply<VaultDetails>> Create(NewVault vault)
    {
        if (Stale)
        {
            return VaultReply<VaultDetails>.Fail(VaultError.Unavailable);
        }

        if (Working.Exists)
        {
            return Working.State.OrganizationId == vault.OrganizationId && Working.State.Name == vault.Name
                ? await ReadAfterPendingWritesAsync(vault.OrganizationId)
                : VaultReply<VaultDetails>.Fail(VaultError.AlreadyExists);
        }

        VaultKey key;
        WrappedKey wrapped;
        try
        {
            key = VaultKey.Generate(out var keyBytes);
            try
            {
                wrapped = await keyProtector.WrapAsync(keyBytes, CancellationToken.None);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(keyBytes);
            }
        }
        catch (KeyServiceUnavailableException e)
        {
            logger.LogWarning("Vault {VaultId} not created: {Reason}", VaultId, e.Message);
            return VaultReply<VaultDetails>.Fail(VaultError.KeyServiceUnavailable);
        }

        // Other calls ran while the key was wrapped: a write may have failed meanwhile.
        if (Stale || Working.Exists)
        {
            key.Dispose();
            return VaultReply<VaultDetails>.Fail(Stale ? VaultError.Unavailable : VaultError.AlreadyExists);
        }

        var now = Now();
        Working.State.OrganizationId = vault.OrganizationId;
        Working.State.Name = vault.Name;
        Working.State.Description = vault.Description;
        Working.State.CreatedAt = now;
        Working.State.UpdatedAt = now;
        Working.State.VaultKey = wrapped;
        vaultKey = Task.FromResult(key);
        // The organization lists the vault from this call's reply; no report needed.
        reportedToOrganization = Working.ToDetails(VaultId);
        var error = await CommitAsync(Audit("vault.create", 201, new AuditResource(VaultId)));
        return error == VaultError.None
            ? VaultReply<VaultDetails>.Ok(Committed.ToDetails(VaultId))
            : VaultReply<VaultDetails>.Fail(error);
    }

    public Task<VaultReply<VaultDetails>> Get(string organizationId)
    {
        if (Stale || integrityBroken)
        {
            return Task.FromResult(VaultReply<VaultDetails>.Fail(Stale ? VaultError.Unavailable : VaultError.IntegrityFailure));
        }

        return Task.FromResult(Committed.IsOwnedBy(organizationId)
            ? VaultReply<VaultDetails>.Ok(Committed.ToDetails(VaultId))
            : VaultReply<VaultDetails>.Fail(VaultError.VaultNotFound));
    }

    public async Task<VaultReply<VaultDetails>> Update(string organizationId, VaultChanges changes)
    {
        if (Refuse(organizationId) is { } refused)
        {
            return VaultReply<VaultDetails>.Fail(refused);
        }

        var state = Working.State;
        var name = changes.Name ?? state.Name;
        var description = changes.SetDescription ? changes.Description : state.Description;
        if (name == state.Name && description == state.Description)
        {
            return await ReadAfterPendingWritesAsync(organizationId);
        }

        if (await UseKeyForChangeAsync(organizationId) is { } keyRefused)
        {
            return VaultReply<VaultDetails>.Fail(keyRefused);
        }

        state = Working.State;
        state.Name = name;
        state.Description = description;
        state.UpdatedAt = Now();
        var error = await CommitAsync(Audit("vault.update", 200, new AuditResource(VaultId)));
        return error == VaultError.None
            ? VaultReply<VaultDetails>.Ok(Committed.ToDetails(VaultId))
            : VaultReply<VaultDetails>.Fail(error);
    }

    public async Task<VaultReply<VaultDetails>> Delete(string organizationId)
    {
        if (Refuse(organizationId) is { } refused)
        {
            return VaultReply<VaultDetails>.Fail(refused);
        }

        if (Working.State.Runtimes.Count > 0)
        {
            return VaultReply<VaultDetails>.Fail(VaultError.VaultAssigned, Working.State.Runtimes.Count);
        }

        if (Working.SecretCount > 0)
        {
            return VaultReply<VaultDetails>.Fail(VaultError.VaultNotEmpty, Working.SecretCount);
        }

        var details = Working.ToDetails(VaultId);
        Working.Erase();
        var error = await CommitAsync(Audit("vault.delete", 204, new AuditResource(VaultId)));
        if (error != VaultError.None)
        {
            return VaultReply<VaultDetails>.Fail(error);
        }

        DropVaultKey();
        DeactivateOnIdle();
        return VaultReply<VaultDetails>.Ok(details);
    }

    public async Task<VaultReply<SecretDetails>> CreateSecret(string organizationId, NewSecret secret)
    {
        if (IsReplay(organizationId, secret))
        {
            return await ReplayCreateAsync(organizationId, secret.Id);
        }

        var valueBytes = Encoding.UTF8.GetByteCount(secret.Value.Plaintext);

        // A key that is only in a write still in flight is not "already there" yet: if that write
        // fails, no one may have been told so. Its outcome decides the answer.
        while (CheckCreate(organizationId, secret, valueBytes) == VaultError.EnvKeyExists && !Committed.HasEnvKey(secret.EnvKey) && PendingWrite() is { } pending)
        {
            await pending;
        }

        // After every await: the original of this retried request may have been applied meanwhile.
        if (IsReplay(organizationId, secret))
        {
            return await ReplayCreateAsync(organizationId, secret.Id);
        }

        if (CheckCreate(organizationId, secret, valueBytes) is { } refused)
        {
            return VaultReply<SecretDetails>.Fail(refused);
        }

        var (key, keyError) = await UseVaultKeyAsync();
        if (key is null)
        {
            return VaultReply<SecretDetails>.Fail(keyError);
        }

        // The key may have needed a call to the key service; other calls ran meanwhile, perhaps the
        // original of this retry, which must not be answered "env_key already exists".
        if (IsReplay(organizationId, secret))
        {
            return await ReplayCreateAsync(organizationId, secret.Id);
        }

        if (CheckCreate(organizationId, secret, valueBytes) is { } refusedLater)
        {
            return VaultReply<SecretDetails>.Fail(refusedLater);
        }

        var now = Now();
        var binding = new SecretBinding(organizationId, VaultId, secret.Id, 1);
        var stored = VaultIntegrity.Sealed(key, organizationId, VaultId, new StoredSecret(secret.Id, secret.EnvKey, [.. secret.AllowedDomains], now, now, 1, valueBytes,
            SecretCipher.Encrypt(key, binding, secret.Value.Plaintext)));
        Working.Add(stored);
        var error = await CommitAsync(Audit("secret.create", 201, new AuditResource(VaultId, secret.Id, secret.EnvKey)));
        return error == VaultError.None
            ? VaultReply<SecretDetails>.Ok(stored.ToDetails())
            : VaultReply<SecretDetails>.Fail(error);
    }

    public Task<VaultReply<IReadOnlyList<SecretDetails>>> ListSecrets(string organizationId)
    {
        if (Stale || integrityBroken || !Committed.IsOwnedBy(organizationId))
        {
            return Task.FromResult(VaultReply<IReadOnlyList<SecretDetails>>.Fail(Stale ? VaultError.Unavailable : integrityBroken ? VaultError.IntegrityFailure : VaultError.VaultNotFound));
        }

        return Task.FromResult(VaultReply<IReadOnlyList<SecretDetails>>.Ok(Committed.ListDetails()));
    }

    public Task<VaultReply<SecretListJson>> ListSecretsJson(string organizationId)
    {
        if (Stale || integrityBroken || !Committed.IsOwnedBy(organizationId))
        {
            return Task.FromResult(VaultReply<SecretListJson>.Fail(Stale ? VaultError.Unavailable : integrityBroken ? VaultError.IntegrityFailure : VaultError.VaultNotFound));
        }

        return Task.FromResult(VaultReply<SecretListJson>.Ok(Committed.ListJson()));
    }

    public Task<VaultReply<SecretDetails>> GetSecret(string organizationId, string secretId)
    {
        if (Stale || integrityBroken || !Committed.IsOwnedBy(organizationId))
        {
            return Task.FromResult(VaultReply<SecretDetails>.Fail(Stale ? VaultError.Unavailable : integrityBroken ? VaultError.IntegrityFailure : VaultError.VaultNotFound));
        }

        return Task.FromResult(Committed.Find(secretId) is { } secret
            ? VaultReply<SecretDetails>.Ok(secret.ToDetails())
            : VaultReply<SecretDetails>.Fail(VaultError.SecretNotFound));
    }

    public async Task<VaultReply<SecretDetails>> UpdateSecret(string organizationId, string secretId, SecretChanges changes)
    {
        if (Refuse(organizationId) is { } refused)
        {
            return VaultReply<SecretDetails>.Fail(refused);
        }

        if (Working.Find(secretId) is not { } found)
        {
            return VaultReply<SecretDetails>.Fail(VaultError.SecretNotFound);
        }

        if (changes.EnvKey is not null && !string.Equals(changes.EnvKey, found.EnvKey, StringComparison.Ordinal))
        {
            return VaultReply<SecretDetails>.Fail(VaultError.EnvKeyChanged);
        }

        // Any change is sealed under the vault key, not only a new value.
        var (key, keyError) = await UseVaultKeyAsync();
        if (key is null)
        {
            return VaultReply<SecretDetails>.Fail(keyError);
        }

        if (Refuse(organizationId) is { } refusedLater)
        {
            return VaultReply<SecretDetails>.Fail(refusedLater);
        }

        if (Working.Find(secretId) is not { } current)
        {
            return VaultReply<SecretDetails>.Fail(VaultError.SecretNotFound);
        }

        var domains = changes.AllowedDomains is null ? current.AllowedDomains : [.. changes.AllowedDomains];
        var domainsChanged = !domains.SequenceEqual(current.AllowedDomains, StringComparer.Ordinal);
        var valueChanged = changes.Value is not null && !HoldsValue(key, organizationId, current, changes.Value.Plaintext);
        if (!domainsChanged && !valueChanged)
        {
            var read = await ReadAfterPendingWritesAsync(organizationId);
            if (!read.Succeeded)
            {
                return VaultReply<SecretDetails>.Fail(read.Error);
            }

            return Committed.Find(secretId) is { } unchanged
                ? VaultReply<SecretDetails>.Ok(unchanged.ToDetails())
                : VaultReply<SecretDetails>.Fail(VaultError.SecretNotFound);
        }

        var updated = current with { AllowedDomains = domains, UpdatedAt = Now() };
        if (valueChanged)
        {
            var plaintext = changes.Value!.Plaintext;
            var valueBytes = Encoding.UTF8.GetByteCount(plaintext);
            if (Working.TotalValueBytes - current.ValueBytes + valueBytes > SecretRules.MaxValueBytesPerVault)
            {
                return VaultReply<SecretDetails>.Fail(VaultError.VaultFull);
            }

            var version = current.Version + 1;
            var binding = new SecretBinding(organizationId, VaultId, secretId, version);
            updated = updated with { Version = version, ValueBytes = valueBytes, Value = SecretCipher.Encrypt(key, binding, plaintext) };
        }

        updated = VaultIntegrity.Sealed(key, organizationId, VaultId, updated);
        Working.Replace(updated);
        var commitError = await CommitAsync(Audit("secret.update", 200, new AuditResource(VaultId, secretId, current.EnvKey), string.Join(",", new[] { valueChanged ? "value" : null, domainsChanged ? "allowed_domains" : null }.OfType<string>())));
        return commitError == VaultError.None
            ? VaultReply<SecretDetails>.Ok(updated.ToDetails())
            : VaultReply<SecretDetails>.Fail(commitError);
    }

    public async Task<VaultReply<SecretDetails>> DeleteSecret(string organizationId, string secretId)
    {
        if (Refuse(organizationId) is { } refused)
        {
            return VaultReply<SecretDetails>.Fail(refused);
        }

        if (Working.Find(secretId) is null)
        {
            return VaultReply<SecretDetails>.Fail(VaultError.SecretNotFound);
        }

        if (await UseKeyForChangeAsync(organizationId) is { } keyRefused)
        {
            return VaultReply<SecretDetails>.Fail(keyRefused);
        }

        if (Working.Find(secretId) is not { } secret)
        {
            return VaultReply<SecretDetails>.Fail(VaultError.SecretNotFound);
        }

        Working.Remove(secretId);
        var error = await CommitAsync(Audit("secret.delete", 204, new AuditResource(VaultId, secretId, secret.EnvKey)));
        return error == VaultError.None
            ? VaultReply<SecretDetails>.Ok(secret.ToDetails())
            : VaultReply<SecretDetails>.Fail(error);
    }

    public async Task<VaultError> AttachRuntime(string organizationId, string runtimeId)
    {
        if (Refuse(organizationId) is { } refused)
        {
            return refused;
        }

        if (!Working.IsHeldBy(runtimeId) && await UseKeyForChangeAsync(organizationId) is { } keyRefused)
        {
            return keyRefused;
        }

        if (Working.IsHeldBy(runtimeId))
        {
            return (await ReadAfterPendingWritesAsync(organizationId)).Error;
        }

        Working.State.Runtimes.Add(runtimeId);
        return await CommitAsync();
    }

    public async Task<VaultError> DetachRuntime(string organizationId, string runtimeId)
    {
        if (Refuse(organizationId) is { } refused)
        {
            // Gone, or never this organization's: nothing here holds the runtime.
            return refused == VaultError.VaultNotFound ? VaultError.None : refused;
        }

        if (Working.IsHeldBy(runtimeId) && await UseKeyForChangeAsync(organizationId) is { } keyRefused)
        {
            return keyRefused;
        }

        if (!Working.IsHeldBy(runtimeId))
        {
            return (await ReadAfterPendingWritesAsync(organizationId)).Error;
        }

        Working.State.Runtimes.Remove(runtimeId);
        return await CommitAsync();
    }

    public async Task<VaultReply<IReadOnlyList<ReleasedSecret>>> ReleaseToRuntime(string runtimeId)
    {
        // Committed state only: a value is released once its write is durable, and a detach stops
        // releases as soon as it is.
        if (Stale || !Committed.Exists)
        {
            return VaultReply<IReadOnlyList<ReleasedSecret>>.Fail(Stale ? VaultError.Unavailable : VaultError.VaultNotFound);
        }

        if (!Committed.IsHeldBy(runtimeId))
        {
            return VaultReply<IReadOnlyList<ReleasedSecret>>.Fail(VaultError.RuntimeNotAttached);
        }

        var (key, keyError) = await UseVaultKeyAsync();
        if (key is null)
        {
            return VaultReply<IReadOnlyList<ReleasedSecret>>.Fail(keyError);
        }

        // Other calls ran while the key was unwrapped.
        if (Stale || !Committed.IsHeldBy(runtimeId))
        {
            return VaultReply<IReadOnlyList<ReleasedSecret>>.Fail(Stale ? VaultError.Unavailable : VaultError.RuntimeNotAttached);
        }

        var organizationId = Committed.State.OrganizationId!;
        var released = new List<ReleasedSecret>(Committed.SecretCount);
        foreach (var secret in Committed.State.Secrets)
        {
            try
            {
                var plaintext = SecretCipher.Decrypt(key, new SecretBinding(organizationId, VaultId, secret.Id, secret.Version), secret.Value);
                released.Add(new ReleasedSecret(secret.EnvKey, new SecretValue(plaintext), VaultId, secret.Id, secret.AllowedDomains));
            }
            catch (SecretIntegrityException e)
            {
                // A damaged value is never released; the others still are.
                LogIntegrityFailure(e);
            }
        }

        return VaultReply<IReadOnlyList<ReleasedSecret>>.Ok(released);
    }

    /// <summary>
    /// Values leave a vault only towards the runtime grain that holds it, which checks the runtime's
    /// token first: a <see cref="IVaultGrain.ReleaseToRuntime"/> from a client, or from any other
    /// grain, is refused whatever runtime id it names.
    /// </summary>
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.InterfaceMethod?.Name == nameof(IVaultGrain.ReleaseToRuntime)
            && !(context.Request.GetArgument(0) is string runtimeId
                && context.SourceId is { } source
                && source == GrainFactory.ReferenceTo<IRuntimeGrain>(runtimeId).GetGrainId()))
        {
            logger.LogWarning("Vault {VaultId} refused a release not asked by the runtime it names (caller {Caller})", VaultId, context.SourceId?.ToString() ?? "unknown");
            context.Result = VaultReply<IReadOnlyList<ReleasedSecret>>.Fail(VaultError.RuntimeNotAttached);
            return;
        }

        await context.Invoke();
        if (unreadable)
        {
            // Each call reads storage again, so a repaired log is served without a restart.
            DeactivateOnIdle();
        }
    }

    public Task<RewrapOutcome> Rewrap()
    {
        // One re-wrap at a time: the lazy one started on activation and an operator's walk share it.
        if (rewrapping is null || rewrapping.IsCompleted)
        {
            rewrapping = RewrapOnceAsync();
        }

        return rewrapping;
    }

    private async Task<RewrapOutcome> RewrapOnceAsync()
    {
        if (Stale)
        {
            return new RewrapOutcome(false, null, VaultError.Unavailable);
        }

        if (Working.State.VaultKey is not { } wrapped)
        {
            return new RewrapOutcome(false, null, VaultError.VaultNotFound);
        }

        if (wrapped.KeyId == keyProtector.CurrentKeyId)
        {
            // The walk also seals vaults written before seals (during the upgrade that accepts them).
            return Committed.State.IntegritySeal is null ? await SealUnsealedAsync(wrapped.KeyId) : new RewrapOutcome(false, wrapped.KeyId, VaultError.None);
        }

        // The activation's vault key (one unwrap under the old KEK, shared with every caller),
        // wrapped again under the new one. Values and their data keys are not touched.
        var (key, keyError) = await UseVaultKeyAsync();
        if (key is null)
        {
            return new RewrapOutcome(false, wrapped.KeyId, keyError);
        }

        WrappedKey rewrapped;
        var bytes = key.Export();
        try
        {
            rewrapped = await keyProtector.WrapAsync(bytes, CancellationToken.None);
        }
        catch (KeyServiceUnavailableException e)
        {
            logger.LogWarning("Vault {VaultId} not re-wrapped: {Reason}", VaultId, e.Message);
            return new RewrapOutcome(false, wrapped.KeyId, VaultError.KeyServiceUnavailable);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }

        if (Stale || !ReferenceEquals(Working.State.VaultKey, wrapped))
        {
            // Deleted, or moved by another path, while the key service answered.
            return new RewrapOutcome(false, Working.State.VaultKey?.KeyId, Stale ? VaultError.Unavailable : VaultError.None);
        }

        Working.State.VaultKey = rewrapped;
        var error = await CommitAsync();
        if (error == VaultError.None)
        {
            logger.LogInformation("Vault {VaultId} key re-wrapped from {OldKeyId} to {NewKeyId}", VaultId, wrapped.KeyId, rewrapped.KeyId);
        }

        return new RewrapOutcome(error == VaultError.None, error == VaultError.None ? rewrapped.KeyId : wrapped.KeyId, error);
    }

    private async Task<RewrapOutcome> SealUnsealedAsync(string keyId)
    {
        var (key, keyError) = await UseVaultKeyAsync();
        if (key is null)
        {
            return new RewrapOutcome(false, keyId, keyError);
        }

        var error = Committed.State.IntegritySeal is null ? await CommitAsync() : VaultError.None;
        return new RewrapOutcome(false, keyId, error);
    }

    private async Task RewrapInBackgroundAsync()
    {
        try
        {
            var outcome = await Rewrap();
            if (outcome.Error != VaultError.None)
            {
                logger.LogWarning("Vault {VaultId} keeps its key under {KeyId} for now ({Error}); the next activation or maintenance re-wrap moves it", VaultId, outcome.KeyId, outcome.Error);
            }
        }
        catch (Exception e)
        {
            logger.LogWarning("Vault {VaultId} background re-wrap failed: {Error}", VaultId, e.GetType().Name);
        }
    }

    private VaultError? Refuse(string organizationId) =>
        Stale ? VaultError.Unavailable
        : Working.IsOwnedBy(organizationId) ? null
        : VaultError.VaultNotFound;

    // The same secret id with the same env_key: the same request sent again.
    private bool IsReplay(string organizationId, NewSecret secret) =>
        Refuse(organizationId) is null && Working.Find(secret.Id) is { } earlier && earlier.EnvKey == secret.EnvKey;

    private VaultError? CheckCreate(string organizationId, NewSecret secret, int valueBytes)
    {
        if (Refuse(organizationId) is { } refused)
        {
            return refused;
        }

        if (Working.HasEnvKey(secret.EnvKey))
        {
            return VaultError.EnvKeyExists;
        }

        if (Working.SecretCount >= SecretRules.MaxSecretsPerVault || Working.TotalValueBytes + valueBytes > SecretRules.MaxValueBytesPerVault)
        {
            return VaultError.VaultFull;
        }

        return null;
    }

    // A no-op answers with the committed state, after any write in flight has landed, so a
    // caller never reads an older state than one it could already have been told about.
    private async Task<VaultReply<VaultDetails>> ReadAfterPendingWritesAsync(string organizationId)
    {
        if (PendingWrite() is { } pending && await pending is var error && error != VaultError.None)
        {
            return VaultReply<VaultDetails>.Fail(error);
        }

        return await Get(organizationId);
    }

    // The same secret id is the same request, sent again because its answer was lost (the API
    // retries a create whose outcome it does not know). It gets the original's answer once the
    // write holding it has landed, rather than a confusing "env_key already exists".
    private async Task<VaultReply<SecretDetails>> ReplayCreateAsync(string organizationId, string secretId)
    {
        var read = await ReadAfterPendingWritesAsync(organizationId);
        if (!read.Succeeded)
        {
            return VaultReply<SecretDetails>.Fail(read.Error);
        }

        return Committed.Find(secretId) is { } secret
            ? VaultReply<SecretDetails>.Ok(secret.ToDetails())
            : VaultReply<SecretDetails>.Fail(VaultError.Unavailable);
    }

    // The write that will hold every change made so far, if one is still to land.
    private Task<VaultError>? PendingWrite() => log.PendingWrite();

    private bool HoldsValue(VaultKey key, string organizationId, StoredSecret secret, string plaintext)
    {
        try
        {
            var current = SecretCipher.Decrypt(key, new SecretBinding(organizationId, VaultId, secret.Id, secret.Version), secret.Value);
            return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(current), Encoding.UTF8.GetBytes(plaintext));
        }
        catch (SecretIntegrityException e)
        {
            // The stored value is damaged; a new value replaces it.
            LogIntegrityFailure(e);
            return false;
        }
    }

    /// <summary>The vault key, unwrapped once per activation and shared by every caller.</summary>
    private async Task<(VaultKey? Key, VaultError Error)> UseVaultKeyAsync()
    {
        // An outage is retried by the next caller. A rejected wrapped key stays rejected for this
        // activation: storage does not heal by itself, and the key service is not asked again.
        if (vaultKey is { IsCanceled: true } || vaultKey is { IsFaulted: true } && vaultKey.Exception?.InnerException is not WrappedKeyRejectedException)
        {
            vaultKey = null;
        }

        if (integrityBroken)
        {
            return (null, VaultError.IntegrityFailure);
        }

        try
        {
            var key = await (vaultKey ??= UnwrapVaultKeyAsync());
            return CheckIntegrity(key) ? (key, VaultError.None) : (null, VaultError.IntegrityFailure);
        }
        catch (KeyServiceUnavailableException e)
        {
            logger.LogWarning("Vault {VaultId} key unavailable: {Reason}", VaultId, e.Message);
            return (null, VaultError.KeyServiceUnavailable);
        }
        catch (WrappedKeyRejectedException e)
        {
            logger.LogError("Vault {VaultId} key failed its integrity check: {Reason}", VaultId, e.Message);
            return (null, VaultError.IntegrityFailure);
        }
    }

    /// <summary>The key for a change, then the vault's rules again: other calls ran while it was unwrapped.</summary>
    private async Task<VaultError?> UseKeyForChangeAsync(string organizationId)
    {
        var (key, keyError) = await UseVaultKeyAsync();
        return key is null ? keyError : Refuse(organizationId);
    }

    // Once per activation, on the state read from storage (later states are the ones this
    // activation sealed). A vault written before seals is accepted only during the operator's
    // upgrade, and sealed by its next write.
    private bool CheckIntegrity(VaultKey key)
    {
        if (integrityChecked)
        {
            return !integrityBroken;
        }

        integrityChecked = true;
        if (!Committed.Exists)
        {
            return true;
        }

        switch (VaultIntegrity.Check(key, VaultId, Committed.State, credentialSeal.AcceptsUnsealed))
        {
            case SealCheck.Valid:
                return true;
            case SealCheck.Unsealed:
                var organizationId = Committed.State.OrganizationId!;
                foreach (var secret in Working.State.Secrets.ToList())
                {
                    Working.Replace(VaultIntegrity.Sealed(key, organizationId, VaultId, secret));
                }

                // Sealed by the next write (a change, or the operator's re-wrap walk).
                logger.LogInformation("Vault {VaultId} was written before seals; its next write seals it", VaultId);
                return true;
            default:
                integrityBroken = true;
                logger.LogError("Vault {VaultId} failed its integrity check: storage holds a state this service did not seal; it refuses changes and releases", VaultId);
                return false;
        }
    }

    private async Task<VaultKey> UnwrapVaultKeyAsync()
    {
        var wrapped = Committed.State.VaultKey ?? throw new WrappedKeyRejectedException($"Vault {VaultId} has no vault key.");
        var bytes = await keyProtector.UnwrapAsync(wrapped, CancellationToken.None);
        try
        {
            return VaultKey.FromBytes(bytes);
        }
        catch (CryptographicException e)
        {
            throw new WrappedKeyRejectedException($"Vault {VaultId} key under {wrapped.KeyId} did not unwrap to a 256-bit key.", e);
        }
    }

    private void LogIntegrityFailure(SecretIntegrityException e) =>
        logger.LogError("Secret {SecretId} (version {Version}) in vault {VaultId} failed authentication", e.Binding.SecretId, e.Binding.Version, e.Binding.VaultId);

    private void DropVaultKey()
    {
        if (vaultKey is { IsCompletedSuccessfully: true })
        {
            vaultKey.Result.Dispose();
        }

        vaultKey = null;
    }

    private Task<VaultError> CommitAsync(AuditEntry? audit = null) => log.CommitAsync(audit);

    async Task<bool> IVaultLogHooks.StageAsync(IReadOnlyList<StagedAuditEvent> events, VaultModel snapshot, bool untilWritten, bool again, bool writtenMeanwhile) =>
        await AuditTrail(snapshot).Stage(VaultId, events, untilWritten, again, writtenMeanwhile) == VaultError.None;

    Task<VaultError> IVaultLogHooks.AwaitWrittenAsync(IReadOnlyList<string> lastEventIds, VaultModel snapshot, bool now) =>
        AuditTrail(snapshot).AwaitWritten(lastEventIds, now);

    public Task<VaultError> DeliverAuditEvents() =>
        unreadable ? Task.FromResult(VaultError.Unavailable) : log.WhenAuditWrittenAsync(AuditDeliveryTimeout);

    void IVaultLogHooks.Seal(VaultModel snapshot)
    {
        // Every change is made after UseVaultKeyAsync (a create makes the key), so the key is here.
        var key = vaultKey is { IsCompletedSuccessfully: true } ready ? ready.Result : throw new InvalidOperationException($"Vault {VaultId} has a change to write but no vault key to seal it.");
        VaultIntegrity.Seal(key, VaultId, snapshot.State);
    }

    Task IVaultLogHooks.AfterWriteAsync(VaultModel after) => Task.WhenAll(ReportToOrganizationAsync(after), NotifyRuntimesAsync(after));

    void IVaultLogHooks.WriteFailed(IReadOnlyList<AuditEntry> events, VaultError failure)
    {
        if (failure != VaultError.AuditUnavailable && events.Count > 0)
        {
            // The events say success for changes whose write failed: say so too.
            _ = RecordFailedWriteAsync(events);
        }

        DeactivateOnIdle();
    }

    // Awaited before the write is acknowledged, so a listing right after a 201 already counts it,
    // and reports arrive in write order. Bounded: an unreachable organization delays writes by at
    // most the timeout, and the summary is re-sent after the next write.
    private async Task ReportToOrganizationAsync(VaultModel after)
    {
        if (!after.Exists)
        {
            return;
        }

        var details = after.ToDetails(VaultId);
        if (details == reportedToOrganization)
        {
            return;
        }

        var report = GrainFactory.ReferenceTo<IOrganizationGrain>(after.State.OrganizationId!).VaultChanged(details);
        try
        {
            await report.WaitAsync(OrganizationReportTimeout);
            reportedToOrganization = details;
            nextReportRetry = FirstReportRetry;
        }
        catch (Exception e)
        {
            report.Ignore();
            logger.LogWarning("Vault {VaultId} could not report its summary to its organization, retrying in {Delay}: {Error}", VaultId, nextReportRetry, e.GetType().Name);
            RetryReportLater();
        }
    }

    // Until the organization has the summary its listing is wrong; the activation stays (KeepAlive)
    // so that the next one, which assumes the organization has what storage holds, never skips it.
    private void RetryReportLater()
    {
        if (reportRetry is not null)
        {
            return;
        }

        var delay = nextReportRetry;
        nextReportRetry = TimeSpan.FromTicks(Math.Min(nextReportRetry.Ticks * 2, LastReportRetry.Ticks));
        reportRetry = this.RegisterGrainTimer(async _ =>
        {
            reportRetry?.Dispose();
            reportRetry = null;
            if (!Stale && Committed.Exists)
            {
                await ReportToOrganizationAsync(Committed);
            }
        }, new GrainTimerCreationOptions(delay, Timeout.InfiniteTimeSpan) { KeepAlive = true });
    }

    // Awaited before the batch is acknowledged, so a proxy never releases a value older than what
    // the caller was told is stored (rotation, narrowed domains and deletes take effect at once).
    private async Task NotifyRuntimesAsync(VaultModel after)
    {
        if (after.State.Runtimes.Count == 0)
        {
            return;
        }

        await Task.WhenAll(after.State.Runtimes.Select(async runtimeId =>
        {
            var notified = GrainFactory.ReferenceTo<IRuntimeGrain>(runtimeId).SecretsChanged(VaultId);
            try
            {
                await notified.WaitAsync(RuntimeNotifyTimeout);
            }
            catch (Exception e)
            {
                notified.Ignore();
                logger.LogWarning("Vault {VaultId} could not tell runtime {RuntimeId} of a change: {Error}", VaultId, runtimeId, e.GetType().Name);
            }
        }));
    }

    // With the trail switched off (measurements only) a change carries no event, not even in its record.
    private AuditEntry? Audit(string action, int status, AuditResource resource, string? changed = null) =>
        !auditOptions.Value.Enabled ? null : new(AuditActor.Current, action, AuditEntry.Success, status, resource, changed is null ? null : new Dictionary<string, string> { ["changed"] = changed });

    // The organization: the committed state's, or for a create the one being written.
    private IAuditTrailGrain AuditTrail(VaultModel snapshot) =>
        GrainFactory.ReferenceTo<IAuditTrailGrain>(Committed.State.OrganizationId ?? snapshot.State.OrganizationId!);

    private async Task RecordFailedWriteAsync(IReadOnlyList<AuditEntry> events)
    {
        try
        {
            if (Committed.State.OrganizationId is { } organization)
            {
                await GrainFactory.ReferenceTo<IAuditTrailGrain>(organization).Append(
                    events.Select(e => e with { Outcome = AuditEntry.Error, Status = 503 }).ToList());
            }
        }
        catch (Exception e)
        {
            logger.LogWarning("Vault {VaultId} could not record a failed write in the audit trail: {Error}", VaultId, e.GetType().Name);
        }
    }

    private DateTime Now() => Timestamps.TruncateToMilliseconds(clock.GetUtcNow().UtcDateTime);
}
