using Azure.Core.Cryptography;

namespace VaultGrains.Grains.Crypto;

/// <summary>
/// Wraps vault keys under the configured key-encryption key and unwraps them under whichever
/// key wrapped them, so old KEK versions keep working until every vault has been re-wrapped.
/// </summary>
public sealed class VaultKeyProtector(IKeyEncryptionKey current, IKeyEncryptionKeyResolver resolver, string algorithm)
{
    /// <summary>The versioned id of the key new vault keys are wrapped with.</summary>
    public string CurrentKeyId => current.KeyId;

    internal async Task<WrappedKey> WrapAsync(byte[] vaultKey, CancellationToken cancellationToken)
    {
        try
        {
            var wrapped = await current.WrapKeyAsync(algorithm, vaultKey, cancellationToken);
            return new WrappedKey(current.KeyId, algorithm, wrapped);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable("wrap", current.KeyId, e);
        }
    }

    internal async Task<byte[]> UnwrapAsync(WrappedKey wrapped, CancellationToken cancellationToken)
    {
        try
        {
            var kek = wrapped.KeyId == current.KeyId
                ? current
                : await resolver.ResolveAsync(wrapped.KeyId, cancellationToken);
            return await kek.UnwrapKeyAsync(wrapped.Algorithm, wrapped.Bytes, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable("unwrap", wrapped.KeyId, e);
        }
    }

    private static KeyServiceUnavailableException Unavailable(string operation, string keyId, Exception inner) =>
        inner as KeyServiceUnavailableException
        ?? new KeyServiceUnavailableException($"Key service could not {operation} with key {keyId}: {inner.GetType().Name}", inner);
}
