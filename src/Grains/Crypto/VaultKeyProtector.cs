using System.Security.Cryptography;
using Azure.Core.Cryptography;

namespace VaultGrains.Grains.Crypto;

/// <summary>
/// Wraps vault keys under the configured key-encryption key and unwraps them under whichever
/// key wrapped them, so old KEK versions keep working until every vault has been re-wrapped.
/// </summary>
/// <remarks>
/// Two kinds of failure, kept apart because callers treat them differently:
/// <see cref="KeyServiceUnavailableException"/> (the key service did not answer usefully; retry later)
/// and <see cref="WrappedKeyRejectedException"/> (the stored wrapped key itself is unusable; an integrity failure).
/// </remarks>
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
            // Wrapping fresh random bytes cannot be the stored data's fault: always retryable.
            throw e as KeyServiceUnavailableException
                ?? new KeyServiceUnavailableException($"Key service could not wrap with key {current.KeyId}: {e.GetType().Name}", e);
        }
    }

    /// <exception cref="KeyServiceUnavailableException">The key service could not be used; retry later.</exception>
    /// <exception cref="WrappedKeyRejectedException">The wrapped key was altered, names an untrusted key or algorithm.</exception>
    internal async Task<byte[]> UnwrapAsync(WrappedKey wrapped, CancellationToken cancellationToken)
    {
        try
        {
            var kek = wrapped.KeyId == current.KeyId
                ? current
                : await resolver.ResolveAsync(wrapped.KeyId, cancellationToken);
            return await kek.UnwrapKeyAsync(wrapped.Algorithm, wrapped.Bytes, cancellationToken);
        }
        catch (CryptographicException e)
        {
            throw e as WrappedKeyRejectedException
                ?? new WrappedKeyRejectedException($"Key {wrapped.KeyId} could not unwrap the stored key: {e.GetType().Name}", e);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw e as KeyServiceUnavailableException
                ?? new KeyServiceUnavailableException($"Key service could not unwrap with key {wrapped.KeyId}: {e.GetType().Name}", e);
        }
    }
}
