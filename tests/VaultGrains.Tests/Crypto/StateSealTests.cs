using VaultGrains.Grains.Crypto;

namespace VaultGrains.Tests.Crypto;

/// <summary>The seal that binds stored metadata to a key storage does not hold.</summary>
public sealed class StateSealTests : IDisposable
{
    private readonly VaultKey key = VaultKey.Generate(out _);

    public void Dispose() => key.Dispose();

    private byte[] SealOf(string purpose, params string?[] fields)
    {
        using var seal = key.Seal(purpose);
        foreach (var field in fields)
        {
            seal.Add(field);
        }

        return seal.Finish();
    }

    [Fact]
    public void The_same_fields_seal_alike_and_verify()
    {
        var first = SealOf("secret/v1", "DATABASE_URL", "api.example.com");
        Assert.Equal(first, SealOf("secret/v1", "DATABASE_URL", "api.example.com"));
        Assert.Equal(StateSeal.Size, first.Length);

        using var check = key.Seal("secret/v1");
        Assert.True(check.Add("DATABASE_URL").Add("api.example.com").Verify(first));
    }

    [Fact]
    public void Any_changed_field_boundary_purpose_or_key_changes_the_seal()
    {
        var original = SealOf("secret/v1", "ab", "c");
        Assert.NotEqual(original, SealOf("secret/v1", "a", "bc"));
        Assert.NotEqual(original, SealOf("secret/v1", "ab", "d"));
        Assert.NotEqual(original, SealOf("secret/v1", "ab", "c", null));
        Assert.NotEqual(original, SealOf("vault/v1", "ab", "c"));
        Assert.NotEqual(SealOf("secret/v1", (string?)null), SealOf("secret/v1", ""));

        using var other = VaultKey.Generate(out _);
        using var seal = other.Seal("secret/v1");
        Assert.False(seal.Add("ab").Add("c").Verify(original));
    }

    [Fact]
    public void Lists_are_counted_so_items_cannot_move_between_neighbours()
    {
        using var first = key.Seal("x");
        var a = first.AddAll(["a.example.com", "b.example.com"]).AddAll(["c.example.com"]).Finish();
        using var second = key.Seal("x");
        var b = second.AddAll(["a.example.com"]).AddAll(["b.example.com", "c.example.com"]).Finish();
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void A_missing_or_truncated_seal_never_verifies()
    {
        var seal = SealOf("secret/v1", "K");
        using var empty = key.Seal("secret/v1");
        Assert.False(empty.Add("K").Verify([]));
        using var truncated = key.Seal("secret/v1");
        Assert.False(truncated.Add("K").Verify(seal.AsSpan(0, 16)));
    }

    [Fact]
    public void The_seal_is_the_HMAC_of_the_framed_fields_as_stored_seals_were_made()
    {
        // Seals already in storage must keep verifying: the tag, big-endian length and bytes of each
        // field, purpose first, under HMAC-SHA256. Enough fields to outgrow any first buffer.
        var sealKey = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        var fields = Enumerable.Range(0, 400).Select(i => $"sec_{i:D26}" + new string('d', i % 70)).ToArray();
        var expected = new List<byte>();
        void Frame(char type, byte[] bytes)
        {
            expected.Add((byte)type);
            var length = new byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
            expected.AddRange(length);
            expected.AddRange(bytes);
        }

        Frame('s', System.Text.Encoding.UTF8.GetBytes("vault/v1"));
        using var seal = new StateSeal(sealKey, "vault/v1");
        foreach (var field in fields)
        {
            seal.Add(field);
            Frame('s', System.Text.Encoding.UTF8.GetBytes(field));
        }

        seal.Add((string?)null).Add(1_000L).Add([1, 2, 3]);
        Frame('n', []);
        Frame('i', [0, 0, 0, 0, 0, 0, 3, 0xE8]);
        Frame('b', [1, 2, 3]);

        var mac = System.Security.Cryptography.HMACSHA256.HashData(sealKey, expected.ToArray());
        Assert.Equal(mac, seal.Finish());
    }
}
