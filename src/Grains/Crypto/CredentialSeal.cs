
namespace VaultGrains.Grains.Crypto;

/// <summary>What a record's seal says about it.</summary>
internal enum SealCheck
{
    /// <summary>The seal matches the record.</summary>
    Valid,

    /// <summary>No seal, on a silo configured to accept records written before seals (<c>Integrity:AcceptUnsealedRecords</c>, for the upgrade only).</summary>
    Unsealed,

    /// <summary>The seal does not match, or is missing where one is required: the record was changed outside the service.</summary>
    Broken,
}

/// <summary>
/// Seals credential records with a framed HMAC-SHA256 (<see cref="StateSeal"/>) under the cluster's state key, which storage holds only
/// wrapped by the key-encryption key: someone who can write storage but cannot use the KEK cannot make a
/// seal, so cannot move a key to another organization, un-revoke it or forge one. One per silo: the key is
/// unwrapped once and kept in memory.
/// </summary>
/// <remarks>
/// Records written before seals existed carry none. They are accepted only while the silo is configured
/// with <c>Integrity:AcceptUnsealedRecords=true</c>, set by the operator for the upgrade: during it the
/// admin command <c>POST /api/admin/v1/maintenance/seal-records</c> seals every listed record, then the
/// setting is removed. The switch lives in configuration, not storage, so a storage writer cannot turn
/// it back on; sealing whatever an unsealed record says on first read would instead seal a forgery.
/// </remarks>
public sealed class CredentialSeal(IGrainFactory grains, VaultKeyProtector keyProtector, Microsoft.Extensions.Configuration.IConfiguration configuration)
{
    public const string AcceptUnsealedKey = "Integrity:AcceptUnsealedRecords";
    private readonly bool acceptUnsealed = bool.TryParse(configuration[AcceptUnsealedKey], out var accept) && accept;

    /// <summary>Whether records written before seals are still accepted (the upgrade is running); vaults follow the same switch.</summary>
    internal bool AcceptsUnsealed => acceptUnsealed;

    private readonly Lock gate = new();
    private Task<byte[]>? key;

    internal async Task<byte[]> SealAsync(string kind, string id, params string[] fields)
    {
        using var seal = Seal(await KeyAsync(), kind, id, fields);
        return seal.Finish();
    }

    internal async Task<SealCheck> CheckAsync(byte[]? seal, string kind, string id, params string[] fields)
    {
        if (seal is null)
        {
            return acceptUnsealed ? SealCheck.Unsealed : SealCheck.Broken;
        }

        using var expected = Seal(await KeyAsync(), kind, id, fields);
        return expected.Verify(seal) ? SealCheck.Valid : SealCheck.Broken;
    }

    private Task<byte[]> KeyAsync()
    {
        lock (gate)
        {
            // A failed load (the key service was down) is tried again by the next caller.
            if (key is null || key.IsFaulted || key.IsCanceled)
            {
                key = LoadAsync();
            }

            return key;
        }
    }

    private async Task<byte[]> LoadAsync()
    {
        var wrapped = await grains.GetGrain<IStateKeyGrain>(0).Get();
        return await keyProtector.UnwrapAsync(new WrappedKey(wrapped.KeyId, wrapped.Algorithm, wrapped.Bytes), CancellationToken.None);
    }

    // The framed HMAC (StateSeal): no two different field lists seal alike, and a seal of one kind never verifies for another.
    private static StateSeal Seal(byte[] key, string kind, string id, string[] fields)
    {
        var seal = new StateSeal(key, kind + "/v1").Add(id);
        foreach (var field in fields)
        {
            seal.Add(field);
        }

        return seal;
    }
}
