using System.Security.Cryptography;
using VaultGrains.Grains.Crypto;

namespace VaultGrains.Tests.Crypto;

/// <summary>The key wrap that wraps every data key: RFC 5649, byte for byte as .NET's own, and strict on the way back.</summary>
public sealed class AesKeyWrapTests
{
    [Theory]
    // RFC 5649, section 6: a 192-bit KEK, a 20-octet and a 7-octet key.
    [InlineData("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a")]
    [InlineData("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f")]
    public void The_RFC_vectors_wrap_and_unwrap(string kek, string key, string wrapped)
    {
        using var wrap = new AesKeyWrap(Convert.FromHexString(kek));
        Assert.Equal(wrapped, Convert.ToHexStringLower(wrap.Wrap(Convert.FromHexString(key))));
        Assert.Equal(key, Convert.ToHexStringLower(wrap.Unwrap(Convert.FromHexString(wrapped))));
    }

    [Fact]
    public void Every_length_wraps_as_dotnet_does_and_each_unwraps_the_other()
    {
        var kek = RandomNumberGenerator.GetBytes(32);
        using var reference = Aes.Create();
        reference.Key = kek;
        using var wrap = new AesKeyWrap(kek);
        for (var length = 1; length <= 72; length++)
        {
            var key = RandomNumberGenerator.GetBytes(length);
            var ours = wrap.Wrap(key);
            Assert.Equal(reference.EncryptKeyWrapPadded(key), ours);
            Assert.Equal(key, wrap.Unwrap(ours));
            Assert.Equal(key, reference.DecryptKeyWrapPadded(ours));
        }
    }

    [Fact]
    public void Any_changed_byte_another_key_or_a_bad_length_is_refused()
    {
        var kek = RandomNumberGenerator.GetBytes(32);
        using var wrap = new AesKeyWrap(kek);
        foreach (var length in new[] { 7, 8, 32 })
        {
            var wrapped = wrap.Wrap(RandomNumberGenerator.GetBytes(length));
            for (var i = 0; i < wrapped.Length; i++)
            {
                var altered = (byte[])wrapped.Clone();
                altered[i] ^= 0x01;
                Assert.Throws<CryptographicException>(() => wrap.Unwrap(altered));
            }

            using var other = new AesKeyWrap(RandomNumberGenerator.GetBytes(32));
            Assert.Throws<CryptographicException>(() => other.Unwrap(wrapped));
            Assert.Throws<CryptographicException>(() => wrap.Unwrap(wrapped.AsSpan(0, wrapped.Length - 1)));
        }

        Assert.Throws<CryptographicException>(() => wrap.Unwrap(new byte[8]));
        Assert.Throws<CryptographicException>(() => wrap.Unwrap([]));
    }

    [Fact]
    public void Concurrent_use_of_one_key_gives_the_right_answers()
    {
        using var wrap = new AesKeyWrap(RandomNumberGenerator.GetBytes(32));
        Parallel.For(0, 2_000, _ =>
        {
            var key = RandomNumberGenerator.GetBytes(32);
            Assert.Equal(key, wrap.Unwrap(wrap.Wrap(key)));
        });
    }
}
