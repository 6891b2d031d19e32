using System.Security.Cryptography;
using System.Text;

namespace VaultGrains.Api;

/// <summary>
/// What the front end derives from one caller's Idempotency-Key: the record's grain key (a plain
/// SHA-256, so the key never reaches the cluster), and, with HKDF, a fingerprint key and a sealing
/// key. The record holds only the fingerprint and sealed bytes, so reading storage yields neither
/// the request (a secret value) nor the answer (an API key, a runtime token) without the key itself.
/// </summary>
internal sealed class IdempotencyKeys
{
    private static readonly byte[] Salt = "vaultgrains/idempotency/v1"u8.ToArray();
    private const int NonceBytes = 12;
    private const int TagBytes = 16;
    private readonly byte[] fingerprintKey;
    private readonly byte[] sealingKey;

    private IdempotencyKeys(string grainKey, byte[] fingerprintKey, byte[] sealingKey)
    {
        GrainKey = grainKey;
        this.fingerprintKey = fingerprintKey;
        this.sealingKey = sealingKey;
    }

    public string GrainKey { get; }

    /// <param name="key">The header's value (printable ASCII).</param>
    /// <param name="scope">Whose key it is: an organization id, or <c>admin</c>.</param>
    public static IdempotencyKeys Derive(string key, string scope)
    {
        var secret = Encoding.ASCII.GetBytes(key);
        var scoped = Encoding.ASCII.GetBytes(scope + "\n" + key);
        var grainKey = scope + ":" + Convert.ToHexStringLower(SHA256.HashData(scoped));
        var fingerprintKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, secret, 32, Salt, Encoding.ASCII.GetBytes("fingerprint\n" + scope));
        var sealingKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, secret, 32, Salt, Encoding.ASCII.GetBytes("seal\n" + scope));
        return new IdempotencyKeys(grainKey, fingerprintKey, sealingKey);
    }

    /// <summary>A keyed hash of what makes two requests the same: method, path and query, and the body's exact bytes.</summary>
    public byte[] Fingerprint(string method, string pathAndQuery, ReadOnlySpan<byte> body)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, fingerprintKey);
        hmac.AppendData(Encoding.UTF8.GetBytes(method + "\n" + pathAndQuery + "\n"));
        hmac.AppendData(body);
        return hmac.GetHashAndReset();
    }

    /// <summary>AES-GCM under the sealing key; <paramref name="purpose"/> is bound as associated data with the grain key.</summary>
    public byte[] Seal(ReadOnlySpan<byte> plaintext, string purpose)
    {
        var sealedBytes = new byte[NonceBytes + TagBytes + plaintext.Length];
        var nonce = sealedBytes.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(sealingKey, TagBytes);
        aes.Encrypt(nonce, plaintext, sealedBytes.AsSpan(NonceBytes + TagBytes), sealedBytes.AsSpan(NonceBytes, TagBytes), AssociatedData(purpose));
        return sealedBytes;
    }

    /// <summary>The plaintext, or null when the bytes were not sealed by this key for this purpose (changed in storage).</summary>
    public byte[]? Open(ReadOnlySpan<byte> sealedBytes, string purpose)
    {
        if (sealedBytes.Length < NonceBytes + TagBytes)
        {
            return null;
        }

        var plaintext = new byte[sealedBytes.Length - NonceBytes - TagBytes];
        using var aes = new AesGcm(sealingKey, TagBytes);
        try
        {
            aes.Decrypt(sealedBytes[..NonceBytes], sealedBytes[(NonceBytes + TagBytes)..], sealedBytes.Slice(NonceBytes, TagBytes), plaintext, AssociatedData(purpose));
            return plaintext;
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
    }

    private byte[] AssociatedData(string purpose) => Encoding.UTF8.GetBytes(GrainKey + "\n" + purpose);
}
