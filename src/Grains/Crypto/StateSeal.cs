using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace VaultGrains.Grains.Crypto;

/// <summary>
/// An HMAC-SHA256 over a sequence of typed, length-prefixed fields, under a key that storage does
/// not hold (derived from a vault key, or the cluster's state key). Storage can copy or drop a
/// sealed record, but cannot change one field of it, move a field between neighbours, or forge a
/// new one: every field is framed (type tag and length), so "ab"+"c" and "a"+"bc" seal differently.
/// </summary>
internal sealed class StateSeal : IDisposable
{
    public const int Size = 32;
    private readonly IncrementalHash hmac;

    /// <param name="key">The seal key; copied by the HMAC, so the caller may zero its own copy.</param>
    /// <param name="purpose">What is sealed ("secret/v1", "vault/v1", …): a seal for one purpose never verifies for another.</param>
    public StateSeal(ReadOnlySpan<byte> key, string purpose)
    {
        hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        Add(purpose);
    }

    public StateSeal Add(string? text)
    {
        if (text is null)
        {
            return Frame('n', []);
        }

        var byteCount = Encoding.UTF8.GetByteCount(text);
        var bytes = byteCount <= 256 ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(text, bytes);
        return Frame('s', bytes);
    }

    public StateSeal Add(long number)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, number);
        return Frame('i', bytes);
    }

    public StateSeal Add(bool flag) => Add(flag ? 1L : 0L);

    public StateSeal Add(DateTime time) => Add(time.Ticks);

    public StateSeal Add(ReadOnlySpan<byte> bytes) => Frame('b', bytes);

    /// <summary>A list: its count first, so items cannot slide between two neighbouring lists.</summary>
    public StateSeal AddAll(IReadOnlyCollection<string> items)
    {
        Add(items.Count);
        foreach (var item in items)
        {
            Add(item);
        }

        return this;
    }

    public byte[] Finish() => hmac.GetHashAndReset();

    /// <summary>Compares in constant time; a missing or short seal never verifies.</summary>
    public bool Verify(ReadOnlySpan<byte> expected)
    {
        Span<byte> actual = stackalloc byte[Size];
        hmac.GetHashAndReset(actual);
        return expected.Length == Size && CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    public void Dispose() => hmac.Dispose();

    private StateSeal Frame(char type, ReadOnlySpan<byte> bytes)
    {
        Span<byte> header = stackalloc byte[5];
        header[0] = (byte)type;
        BinaryPrimitives.WriteInt32BigEndian(header[1..], bytes.Length);
        hmac.AppendData(header);
        hmac.AppendData(bytes);
        return this;
    }
}
