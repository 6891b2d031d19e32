using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using VaultGrains.Grains.Crypto;

namespace VaultGrains.Grains;

[GenerateSerializer, Alias("VaultGrains.Grains.StateKeyState")]
internal sealed class StateKeyState
{
    [Id(0)] public WrappedKey? Key { get; set; }
}

/// <summary>
/// Keeps the wrapped state key. Made on first use; two activations racing to make it are settled by
/// the storage ETag (the loser reads the winner's). Replacing it in storage only makes every seal fail
/// (refused, never obeyed): without the key-encryption key no one can wrap a key of their choosing.
/// </summary>
internal sealed class StateKeyGrain(
    [PersistentState("statekey", StorageNames.Runtimes)] IPersistentState<StateKeyState> storage,
    VaultKeyProtector keyProtector,
    ILogger<StateKeyGrain> logger) : Grain, IStateKeyGrain
{
    public async Task<WrappedStateKey> Get()
    {
        if (storage.State.Key is null)
        {
            await CreateAsync();
        }
        else if (storage.State.Key.KeyId != keyProtector.CurrentKeyId)
        {
            await RewrapAsync(storage.State.Key);
        }

        var key = storage.State.Key!;
        return new WrappedStateKey(key.KeyId, key.Algorithm, key.Bytes);
    }

    // After a KEK rotation: moved to the current key, so the old version can be retired (as vault keys are).
    private async Task RewrapAsync(WrappedKey old)
    {
        try
        {
            var keyBytes = await keyProtector.UnwrapAsync(old, CancellationToken.None);
            try
            {
                storage.State.Key = await keyProtector.WrapAsync(keyBytes, CancellationToken.None);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(keyBytes);
            }

            await storage.WriteStateAsync();
            logger.LogInformation("State key re-wrapped from {OldKeyId} to {KeyId}", old.KeyId, storage.State.Key.KeyId);
        }
        catch (Exception e) when (e is not WrappedKeyRejectedException)
        {
            // The old wrapping still works; try again on a later activation.
            logger.LogWarning("State key not re-wrapped yet: {Error}", e.GetType().Name);
            await storage.ReadStateAsync();
        }
    }

    private async Task CreateAsync()
    {
        var keyBytes = RandomNumberGenerator.GetBytes(32);
        try
        {
            storage.State.Key = await keyProtector.WrapAsync(keyBytes, CancellationToken.None);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(keyBytes);
        }

        try
        {
            await storage.WriteStateAsync();
            logger.LogInformation("State key created");
        }
        catch (Exception e)
        {
            logger.LogWarning("State key not stored ({Error}); reading the stored one", e.GetType().Name);
            await storage.ReadStateAsync();
            if (storage.State.Key is null)
            {
                throw;
            }
        }
    }
}
