using System.Buffers.Binary;
using System.Security.Cryptography;

namespace VaultGrains.Grains.Crypto;

/// <summary>
/// AES key wrap with padding (RFC 5649) on one AES-ECB transform kept for the life of the key.
/// </summary>
/// <remarks>
/// The result is byte for byte what <see cref="SymmetricAlgorithm.EncryptKeyWrapPadded(ReadOnlySpan{byte})"/>
/// gives (a test holds it to that and to the RFC's vectors). That method sets up a new native cipher
/// for every one of the 24 block encryptions that wrap a 256-bit data key: about 40 µs per value,
/// the largest single cost of a create on the hot path. Here the cipher is set up once per vault
/// key and each step is one block through it. The transform is not safe for concurrent use, hence
/// the lock; a vault key is used by one activation, so it is almost never contended.
/// </remarks>
internal sealed class AesKeyWrap : IDisposable
{
    private const uint AlternativeIv = 0xA65959A6;
    private const int Semiblock = 8;
    private readonly Lock gate = new();
    private readonly ICryptoTransform encryptor;
    private readonly ICryptoTransform decryptor;
    private readonly byte[] input = new byte[16];
    private readonly byte[] output = new byte[16];

    public AesKeyWrap(ReadOnlySpan<byte> key)
    {
        using var aes = Aes.Create();
        aes.Key = key.ToArray();
        aes.Mode = CipherMode.ECB;
        aes.Padding = PaddingMode.None;
        encryptor = aes.CreateEncryptor();
        decryptor = aes.CreateDecryptor();
    }

    public byte[] Wrap(ReadOnlySpan<byte> plaintext)
    {
        if (plaintext.IsEmpty)
        {
            throw new ArgumentException("Nothing to wrap.", nameof(plaintext));
        }

        var padded = (plaintext.Length + Semiblock - 1) / Semiblock * Semiblock;
        var n = padded / Semiblock;
        var result = new byte[padded + Semiblock];
        BinaryPrimitives.WriteUInt32BigEndian(result, AlternativeIv);
        BinaryPrimitives.WriteUInt32BigEndian(result.AsSpan(4), (uint)plaintext.Length);
        plaintext.CopyTo(result.AsSpan(Semiblock));
        lock (gate)
        {
            try
            {
                if (n == 1)
                {
                    Encrypt(result, result);
                    return result;
                }

                var a = result.AsSpan(0, Semiblock);
                for (var j = 0; j < 6; j++)
                {
                    for (var i = 1; i <= n; i++)
                    {
                        var r = result.AsSpan(i * Semiblock, Semiblock);
                        a.CopyTo(input);
                        r.CopyTo(input.AsSpan(Semiblock));
                        encryptor.TransformBlock(input, 0, 16, output, 0);
                        BinaryPrimitives.WriteUInt64BigEndian(a, BinaryPrimitives.ReadUInt64BigEndian(output) ^ (ulong)((n * j) + i));
                        output.AsSpan(Semiblock).CopyTo(r);
                    }
                }

                return result;
            }
            finally
            {
                CryptographicOperations.ZeroMemory(input);
                CryptographicOperations.ZeroMemory(output);
            }
        }
    }

    /// <exception cref="CryptographicException">The input was not wrapped under this key, or was altered.</exception>
    public byte[] Unwrap(ReadOnlySpan<byte> wrapped)
    {
        if (wrapped.Length < 2 * Semiblock || wrapped.Length % Semiblock != 0)
        {
            throw new CryptographicException("The wrapped key has an invalid length.");
        }

        var n = (wrapped.Length / Semiblock) - 1;
        var work = wrapped.ToArray();
        try
        {
            lock (gate)
            {
                try
                {
                    if (n == 1)
                    {
                        work.CopyTo(input, 0);
                        decryptor.TransformBlock(input, 0, 16, output, 0);
                        output.CopyTo(work, 0);
                    }
                    else
                    {
                        var a = work.AsSpan(0, Semiblock);
                        for (var j = 5; j >= 0; j--)
                        {
                            for (var i = n; i >= 1; i--)
                            {
                                var r = work.AsSpan(i * Semiblock, Semiblock);
                                BinaryPrimitives.WriteUInt64BigEndian(input, BinaryPrimitives.ReadUInt64BigEndian(a) ^ (ulong)((n * j) + i));
                                r.CopyTo(input.AsSpan(Semiblock));
                                decryptor.TransformBlock(input, 0, 16, output, 0);
                                output.AsSpan(0, Semiblock).CopyTo(a);
                                output.AsSpan(Semiblock).CopyTo(r);
                            }
                        }
                    }
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(input);
                    CryptographicOperations.ZeroMemory(output);
                }
            }

            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(work.AsSpan(4));
            var valid = BinaryPrimitives.ReadUInt32BigEndian(work) == AlternativeIv
                && length > (n - 1) * Semiblock && length <= n * Semiblock
                && !work.AsSpan(Semiblock + length).ContainsAnyExcept((byte)0);
            if (!valid)
            {
                throw new CryptographicException("The wrapped key did not unwrap under this key.");
            }

            return work.AsSpan(Semiblock, length).ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(work);
        }
    }

    public void Dispose()
    {
        encryptor.Dispose();
        decryptor.Dispose();
    }

    private void Encrypt(byte[] block, byte[] destination)
    {
        block.AsSpan(0, 16).CopyTo(input);
        encryptor.TransformBlock(input, 0, 16, output, 0);
        output.CopyTo(destination, 0);
    }
}
