using VaultGrains.Grains.Crypto;

namespace VaultGrains.Grains.Vaults;

/// <summary>
/// Binds what a vault stores besides its ciphertexts (each secret's env_key, allowed domains,
/// version and times; the vault's organization, runtimes and key id) to the vault key, which
/// storage holds only wrapped by the KEK. Each secret carries the HMAC of its fields; the vault
/// carries the HMAC of its own fields and of every secret's seal, in order. Someone who can write
/// storage but cannot use the KEK can then not widen a secret's domains, attach a runtime, roll one
/// secret back to an older sealed copy or drop one secret: the vault's seal no longer matches. The
/// value itself is not in the seal: AES-GCM already binds it to its organization, vault, secret
/// and (sealed) version, and a damaged value fails alone instead of taking its vault down. What
/// stays possible is replacing the whole vault by an older sealed copy of itself, or deleting it.
/// </summary>
internal static class VaultIntegrity
{
    public static StoredSecret Sealed(VaultKey key, string organizationId, string vaultId, StoredSecret secret) =>
        secret with { Seal = SealOf(key, organizationId, vaultId, secret) };

    /// <summary>Sets the vault's seal over its fields and its secrets' seals, which must all be set.</summary>
    public static void Seal(VaultKey key, string vaultId, VaultState state) => state.IntegritySeal = SealOf(key, vaultId, state);

    /// <summary>Whether storage gave back what the service sealed.</summary>
    public static SealCheck Check(VaultKey key, string vaultId, VaultState state, bool acceptUnsealed)
    {
        if (state.IntegritySeal is null)
        {
            // Written before seals: only while the operator runs the upgrade, and only if no part of it claims a seal.
            return acceptUnsealed && state.Secrets.All(s => s.Seal is null) ? SealCheck.Unsealed : SealCheck.Broken;
        }

        foreach (var secret in state.Secrets)
        {
            using var expected = SecretSeal(key, state.OrganizationId, vaultId, secret);
            if (secret.Seal is null || !expected.Verify(secret.Seal))
            {
                return SealCheck.Broken;
            }
        }

        using var vault = VaultSeal(key, vaultId, state);
        return vault.Verify(state.IntegritySeal) ? SealCheck.Valid : SealCheck.Broken;
    }

    private static byte[] SealOf(VaultKey key, string organizationId, string vaultId, StoredSecret secret)
    {
        using var seal = SecretSeal(key, organizationId, vaultId, secret);
        return seal.Finish();
    }

    private static byte[] SealOf(VaultKey key, string vaultId, VaultState state)
    {
        using var seal = VaultSeal(key, vaultId, state);
        return seal.Finish();
    }

    private static StateSeal SecretSeal(VaultKey key, string? organizationId, string vaultId, StoredSecret secret) =>
        key.Seal("secret/v1")
            .Add(organizationId).Add(vaultId).Add(secret.Id).Add(secret.EnvKey).AddAll(secret.AllowedDomains)
            .Add(secret.CreatedAt).Add(secret.UpdatedAt).Add(secret.Version).Add(secret.ValueBytes);

    private static StateSeal VaultSeal(VaultKey key, string vaultId, VaultState state)
    {
        var seal = key.Seal("vault/v1")
            .Add(vaultId).Add(state.OrganizationId).Add(state.Name).Add(state.Description)
            .Add(state.CreatedAt).Add(state.UpdatedAt).Add(state.VaultKey?.KeyId).AddAll(state.Runtimes)
            .Add(state.Secrets.Count);
        foreach (var secret in state.Secrets)
        {
            seal.Add(secret.Id).Add(secret.Seal ?? throw new InvalidOperationException($"Secret {secret.Id} of vault {vaultId} is not sealed."));
        }

        return seal;
    }
}
