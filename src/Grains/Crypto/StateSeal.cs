using System.Buffers;
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
/// <remarks>
/// The frames are gathered in memory and the HMAC runs once over all of them. A vault's seal has a
/// few frames per secret, and each incremental update is a call into OpenSSL with its own fixed
/// cost: per write batch into a vault of 1,000 secrets that was thousands of calls, a measurable
/// share of the hot path's CPU. The result is the same HMAC over the same bytes.
/// </remarks>
internal sealed class StateSeal : IDisposable
{
    public const int Size = 32;
    private readonly byte[] key;
    private byte[] frames;
    private int length;

    /// <param name="key">The seal key; copied, so the caller may zero its own copy.</param>
    /// <param name="purpose">What is sealed ("secret/v1", "vault/v1", …): a seal for one purpose never verifies for another.</param>
    public StateSeal(ReadOnlySpan<byte> key, string purpose)
    {
        this.key = key.ToArray();
        frames = ArrayPool<byte>.Shared.Rent(512);
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

    public byte[] Finish() => HMACSHA256.HashData(key, frames.AsSpan(0, length));

    /// <summary>Compares in constant time; a missing or short seal never verifies.</summary>
    public bool Verify(ReadOnlySpan<byte> expected)
    {
        Span<byte> actual = stackalloc byte[Size];
        HMACSHA256.HashData(key, frames.AsSpan(0, length), actual);
        return expected.Length == Size && CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(key);
        CryptographicOperations.ZeroMemory(frames.AsSpan(0, length));
        ArrayPool<byte>.Shared.Return(frames);
        frames = [];
        length = 0;
    }

    private StateSeal Frame(char type, ReadOnlySpan<byte> bytes)
    {
        var needed = length + 5 + bytes.Length;
        if (needed > frames.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, frames.Length * 2));
            frames.AsSpan(0, length).CopyTo(larger);
            CryptographicOperations.ZeroMemory(frames.AsSpan(0, length));
            ArrayPool<byte>.Shared.Return(frames);
            frames = larger;
        }

        frames[length] = (byte)type;
        BinaryPrimitives.WriteInt32BigEndian(frames.AsSpan(length + 1, 4), bytes.Length);
        bytes.CopyTo(frames.AsSpan(length + 5));
        length = needed;
        return this;
    }
}
