using System.Security.Cryptography;

namespace VaultGrains.Grains.Crypto;

/// <summary>
/// A vault's 256-bit key in the clear, held only for the life of one activation. It wraps and
/// unwraps the per-value data keys locally (AES key wrap with padding, RFC 5649).
/// </summary>
internal sealed class VaultKey : IDisposable
{
    public const int SizeInBytes = 32;
    private static readonly byte[] SealKeyInfo = "vaultgrains/state-seal/v1"u8.ToArray();
    private readonly Aes aes;
    private readonly AesKeyWrap keyWrap;
    // A separate key for seals (HKDF), so no HMAC ever runs under the key that wraps data keys.
    private readonly byte[] sealKey;

    private VaultKey(byte[] key)
    {
        aes = Aes.Create();
        aes.Key = key;
        keyWrap = new AesKeyWrap(key);
        sealKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, key, StateSeal.Size, salt: [], info: SealKeyInfo);
        CryptographicOperations.ZeroMemory(key);
    }

    public static VaultKey Generate(out byte[] keyBytes)
    {
        keyBytes = RandomNumberGenerator.GetBytes(SizeInBytes);
        return new VaultKey((byte[])keyBytes.Clone());
    }

    /// <summary>Takes ownership of the bytes and zeroes them.</summary>
    public static VaultKey FromBytes(byte[] keyBytes)
    {
        if (keyBytes.Length != SizeInBytes)
        {
            CryptographicOperations.ZeroMemory(keyBytes);
            throw new CryptographicException("A vault key must be 256 bits.");
        }

        return new VaultKey(keyBytes);
    }

    /// <summary>A copy of the key, to wrap it again under a new key-encryption key. The caller zeroes it.</summary>
    public byte[] Export() => aes.Key;

    public byte[] WrapDataKey(ReadOnlySpan<byte> dataKey) => keyWrap.Wrap(dataKey);

    /// <exception cref="CryptographicException">The data key was not wrapped under this key, or was altered.</exception>
    public byte[] UnwrapDataKey(byte[] wrapped) => keyWrap.Unwrap(wrapped);

    /// <summary>A seal under this vault's seal key, for state that storage must not be able to change unnoticed.</summary>
    public StateSeal Seal(string purpose) => new(sealKey, purpose);

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(sealKey);
        keyWrap.Dispose();
        aes.Dispose();
    }
}
