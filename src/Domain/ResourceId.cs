using System.Security.Cryptography;

namespace VaultGrains.Domain;

/// <summary>Resource ids: a type prefix and a 26-character ULID in upper-case Crockford base32.</summary>
public static class ResourceId
{
    public const string Organization = "org_";
    public const string Vault = "vlt_";
    public const string Secret = "sec_";
    public const string ApiKey = "key_";
    public const string Runtime = "rtm_";
    public const string Event = "evt_";

    private const string Crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    // Each character's value in Crockford base32 (upper case, as ids are made), -1 for anything else.
    private static readonly sbyte[] CrockfordValues = CrockfordTable();
    private static readonly Lock Gate = new();
    private static long lastMilliseconds;
    private static readonly byte[] LastRandom = new byte[10];

    public static string New(string prefix) => prefix + NewUlid(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    /// <summary>The id with the given time and 80 bits of randomness (10 bytes), for an id that must come out the same again.</summary>
    public static string Of(string prefix, DateTimeOffset time, ReadOnlySpan<byte> random) =>
        random.Length == 10 ? prefix + Encode(time.ToUnixTimeMilliseconds(), random) : throw new ArgumentException("A ULID has 10 random bytes.", nameof(random));

    /// <summary>The time a well-formed id was made (its ULID's first 48 bits); null for anything else.</summary>
    public static DateTime? TimeOf(string id, string prefix) =>
        TryParseUlid(id, prefix, out var ulid) ? DateTimeOffset.FromUnixTimeMilliseconds((long)(ulid >> 80)).UtcDateTime : null;

    /// <summary>The 128 bits of a well-formed id's ULID, which name it exactly (a compact key for sets of ids).</summary>
    public static bool TryParseUlid(string id, string prefix, out UInt128 ulid)
    {
        ulid = UInt128.Zero;
        // The first character carries only 3 bits of the 48-bit timestamp.
        if (id.Length != prefix.Length + 26 || !id.StartsWith(prefix, StringComparison.Ordinal) || id[prefix.Length] > '7')
        {
            return false;
        }

        for (var i = prefix.Length; i < id.Length; i++)
        {
            var c = id[i];
            var digit = c < CrockfordValues.Length ? CrockfordValues[c] : (sbyte)-1;
            if (digit < 0)
            {
                return false;
            }

            ulid = (ulid << 5) | (uint)digit;
        }

        return true;
    }

    /// <summary>True when <paramref name="id"/> is the prefix followed by a well-formed ULID.</summary>
    public static bool IsValid(string? id, string prefix) => id is not null && TryParseUlid(id, prefix, out _);

    // Monotonic within a millisecond, so ids made in one process sort in creation order.
    private static string NewUlid(long milliseconds)
    {
        Span<byte> random = stackalloc byte[10];
        lock (Gate)
        {
            if (milliseconds <= lastMilliseconds)
            {
                milliseconds = lastMilliseconds;
                Increment(LastRandom);
            }
            else
            {
                lastMilliseconds = milliseconds;
                RandomNumberGenerator.Fill(LastRandom);
            }

            LastRandom.CopyTo(random);
        }

        return Encode(milliseconds, random);
    }

    private static string Encode(long milliseconds, ReadOnlySpan<byte> random)
    {
        Span<char> chars = stackalloc char[26];
        for (var i = 9; i >= 0; i--)
        {
            chars[i] = Crockford[(int)(milliseconds & 31)];
            milliseconds >>= 5;
        }

        // 80 random bits as 16 base32 characters, most significant first.
        var high = ((ulong)random[0] << 32) | ((ulong)random[1] << 24) | ((ulong)random[2] << 16) | ((ulong)random[3] << 8) | random[4];
        var low = ((ulong)random[5] << 32) | ((ulong)random[6] << 24) | ((ulong)random[7] << 16) | ((ulong)random[8] << 8) | random[9];
        for (var i = 17; i >= 10; i--)
        {
            chars[i] = Crockford[(int)(high & 31)];
            high >>= 5;
        }

        for (var i = 25; i >= 18; i--)
        {
            chars[i] = Crockford[(int)(low & 31)];
            low >>= 5;
        }

        return new string(chars);
    }

    private static sbyte[] CrockfordTable()
    {
        var values = new sbyte[128];
        Array.Fill(values, (sbyte)-1);
        for (var i = 0; i < Crockford.Length; i++)
        {
            values[Crockford[i]] = (sbyte)i;
        }

        return values;
    }

    private static void Increment(byte[] value)
    {
        for (var i = value.Length - 1; i >= 0; i--)
        {
            if (++value[i] != 0)
            {
                return;
            }
        }
    }
}
