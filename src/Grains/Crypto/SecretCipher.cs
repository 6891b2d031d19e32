using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace VaultGrains.Grains.Crypto;

/// <summary>
/// Encrypts one secret value with AES-256-GCM under a fresh data key, and binds the ciphertext to
/// its organization, vault, secret and version through the associated data.
/// </summary>
internal static class SecretCipher
{
    private const int NonceSize = 12;
    private const int TagSize = 16;

    public static EncryptedValue Encrypt(VaultKey vaultKey, SecretBinding binding, string plaintext)
    {
        Span<byte> dataKey = stackalloc byte[32];
        RandomNumberGenerator.Fill(dataKey);
        var plainLength = Encoding.UTF8.GetByteCount(plaintext);
        var plain = ArrayPool<byte>.Shared.Rent(plainLength);
        try
        {
            var written = Encoding.UTF8.GetBytes(plaintext, plain);
            var nonce = RandomNumberGenerator.GetBytes(NonceSize);
            var ciphertext = new byte[written];
            var tag = new byte[TagSize];
            using (var gcm = new AesGcm(dataKey, TagSize))
            {
                gcm.Encrypt(nonce, plain.AsSpan(0, written), ciphertext, tag, AssociatedData(binding));
            }

            return new EncryptedValue(vaultKey.WrapDataKey(dataKey), nonce, ciphertext, tag);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
            CryptographicOperations.ZeroMemory(plain.AsSpan(0, plainLength));
            ArrayPool<byte>.Shared.Return(plain);
        }
    }

    /// <exception cref="SecretIntegrityException">The value, its data key or its binding was altered.</exception>
    public static string Decrypt(VaultKey vaultKey, SecretBinding binding, EncryptedValue value)
    {
        byte[] dataKey;
        try
        {
            dataKey = vaultKey.UnwrapDataKey(value.WrappedDataKey);
        }
        catch (CryptographicException)
        {
            throw new SecretIntegrityException(binding);
        }

        var length = value.Ciphertext.Length;
        var plain = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            if (value.Nonce.Length != NonceSize || value.Tag.Length != TagSize || dataKey.Length != 32)
            {
                throw new SecretIntegrityException(binding);
            }

            using var gcm = new AesGcm(dataKey, TagSize);
            gcm.Decrypt(value.Nonce, value.Ciphertext, value.Tag, plain.AsSpan(0, length), AssociatedData(binding));
            return Encoding.UTF8.GetString(plain, 0, length);
        }
        catch (CryptographicException)
        {
            throw new SecretIntegrityException(binding);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
            CryptographicOperations.ZeroMemory(plain.AsSpan(0, length));
            ArrayPool<byte>.Shared.Return(plain);
        }
    }

    private static byte[] AssociatedData(SecretBinding binding) =>
        Encoding.UTF8.GetBytes($"vaultgrains/v1\n{binding.OrganizationId}\n{binding.VaultId}\n{binding.SecretId}\n{binding.Version}");
}

/// <summary>A stored ciphertext failed authentication. Carries ids only, never a value.</summary>
internal sealed class SecretIntegrityException(SecretBinding binding)
    : CryptographicException($"Secret {binding.SecretId} (version {binding.Version}) in vault {binding.VaultId} failed authentication.")
{
    public SecretBinding Binding { get; } = binding;
}
