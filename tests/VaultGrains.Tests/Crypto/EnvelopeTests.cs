using System.Security.Cryptography;
using System.Text;
using VaultGrains.Grains.Crypto;

namespace VaultGrains.Tests.Crypto;

/// <summary>The value layer (AES-256-GCM under a data key wrapped by the vault key) and the vault key layer under a local KEK.</summary>
public sealed class EnvelopeTests : IDisposable
{
    private static readonly SecretBinding Binding = new("org_01KQ27AQH800XQTQPJZ0DH14SJ", "vlt_01KQ27AQH800XQTQPJZ0DH14SK", "sec_01KQ27AQH800XQTQPJZ0DH14SM", 3);
    private readonly VaultKey vaultKey = VaultKey.Generate(out _);

    public void Dispose() => vaultKey.Dispose();

    public static TheoryData<int> Sizes => new() { 1, 32, 1024, 65536 };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Values_round_trip_and_never_repeat_nonce_data_key_or_ciphertext(int size)
    {
        var plaintext = string.Concat(Enumerable.Repeat("é€x", size)).Substring(0, size);

        var first = SecretCipher.Encrypt(vaultKey, Binding, plaintext);
        var second = SecretCipher.Encrypt(vaultKey, Binding, plaintext);

        Assert.Equal(plaintext, SecretCipher.Decrypt(vaultKey, Binding, first));
        Assert.Equal(plaintext, SecretCipher.Decrypt(vaultKey, Binding, second));
        Assert.Equal(12, first.Nonce.Length);
        Assert.Equal(16, first.Tag.Length);
        Assert.NotEqual(first.Nonce, second.Nonce);
        Assert.NotEqual(first.WrappedDataKey, second.WrappedDataKey);
        Assert.NotEqual(first.Ciphertext, second.Ciphertext);
        Assert.True(first.Ciphertext.AsSpan().IndexOf(Encoding.UTF8.GetBytes(plaintext)) < 0);
    }

    public static TheoryData<string, int> BitFlips()
    {
        var data = new TheoryData<string, int>();
        foreach (var part in new[] { "ciphertext", "nonce", "tag", "data key" })
        {
            foreach (var position in new[] { 0, 5, -1 })
            {
                data.Add(part, position);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(BitFlips))]
    public void A_flipped_bit_anywhere_fails_authentication(string part, int position)
    {
        var value = SecretCipher.Encrypt(vaultKey, Binding, "postgresql://user:pw@host/db");
        var altered = part switch
        {
            "ciphertext" => value with { Ciphertext = Flip(value.Ciphertext, position) },
            "nonce" => value with { Nonce = Flip(value.Nonce, position) },
            "tag" => value with { Tag = Flip(value.Tag, position) },
            _ => value with { WrappedDataKey = Flip(value.WrappedDataKey, position) },
        };

        var error = Assert.Throws<SecretIntegrityException>(() => SecretCipher.Decrypt(vaultKey, Binding, altered));
        Assert.Equal(Binding, error.Binding);
        Assert.DoesNotContain("postgresql", error.Message);
    }

    [Fact]
    public void A_ciphertext_moved_to_another_secret_vault_version_or_organization_fails()
    {
        var value = SecretCipher.Encrypt(vaultKey, Binding, "s3cr3t");

        Assert.Throws<SecretIntegrityException>(() => SecretCipher.Decrypt(vaultKey, Binding with { SecretId = "sec_01KQ27AQH800XQTQPJZ0DH14SN" }, value));
        Assert.Throws<SecretIntegrityException>(() => SecretCipher.Decrypt(vaultKey, Binding with { VaultId = "vlt_01KQ27AQH800XQTQPJZ0DH14SP" }, value));
        Assert.Throws<SecretIntegrityException>(() => SecretCipher.Decrypt(vaultKey, Binding with { Version = 2 }, value));
        Assert.Throws<SecretIntegrityException>(() => SecretCipher.Decrypt(vaultKey, Binding with { OrganizationId = "org_01KQ27AQH800XQTQPJZ0DH14SQ" }, value));
        Assert.Equal("s3cr3t", SecretCipher.Decrypt(vaultKey, Binding, value));
    }

    [Fact]
    public void Parts_swapped_between_values_or_read_under_another_vault_key_fail()
    {
        var one = SecretCipher.Encrypt(vaultKey, Binding, "value one");
        var two = SecretCipher.Encrypt(vaultKey, Binding, "value two");
        using var otherVaultKey = VaultKey.Generate(out _);

        Assert.Throws<SecretIntegrityException>(() => SecretCipher.Decrypt(vaultKey, Binding, one with { WrappedDataKey = two.WrappedDataKey }));
        Assert.Throws<SecretIntegrityException>(() => SecretCipher.Decrypt(vaultKey, Binding, one with { Nonce = two.Nonce }));
        Assert.Throws<SecretIntegrityException>(() => SecretCipher.Decrypt(vaultKey, Binding, one with { Nonce = one.Nonce[..8] }));
        Assert.Throws<SecretIntegrityException>(() => SecretCipher.Decrypt(vaultKey, Binding, one with { Tag = one.Tag[..12] }));
        Assert.Throws<SecretIntegrityException>(() => SecretCipher.Decrypt(otherVaultKey, Binding, one));
    }

    [Fact]
    public async Task Silos_starting_together_on_a_fresh_data_directory_share_one_whole_key_file()
    {
        var directory = Directory.CreateTempSubdirectory("vaultgrains-kek");
        try
        {
            // The race is short: repeat it, each round on a fresh directory.
            var path = "";
            for (var round = 0; round < 100; round++)
            {
                path = Path.Combine(directory.FullName, $"round{round}", "kek.key");
                using var start = new Barrier(4);
                var keys = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
                {
                    start.SignalAndWait();
                    return LocalKeyEncryptionKey.LoadOrCreate(path);
                })));

                Assert.Single(keys.Select(k => k.KeyId).Distinct());
                Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
            }

            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_wrapped_vault_key_that_was_altered_or_names_another_key_or_algorithm_is_rejected()
    {
        var directory = Directory.CreateTempSubdirectory("vaultgrains-kek");
        try
        {
            var kek = LocalKeyEncryptionKey.LoadOrCreate(Path.Combine(directory.FullName, "kek.key"));
            var protector = new VaultKeyProtector(kek, kek, LocalKeyEncryptionKey.Algorithm);
            var keyBytes = RandomNumberGenerator.GetBytes(32);
            var wrapped = await protector.WrapAsync(keyBytes, CancellationToken.None);

            Assert.Equal(keyBytes, await protector.UnwrapAsync(wrapped, CancellationToken.None));
            foreach (var position in new[] { 0, 13, -1 })
            {
                await Assert.ThrowsAsync<WrappedKeyRejectedException>(() => protector.UnwrapAsync(wrapped with { Bytes = Flip(wrapped.Bytes, position) }, CancellationToken.None));
            }

            await Assert.ThrowsAsync<WrappedKeyRejectedException>(() => protector.UnwrapAsync(wrapped with { KeyId = "local:0000000000000000" }, CancellationToken.None));
            await Assert.ThrowsAsync<WrappedKeyRejectedException>(() => protector.UnwrapAsync(wrapped with { Algorithm = "A128KW" }, CancellationToken.None));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Only_versioned_https_key_ids_parse()
    {
        Assert.True(KeyVaultKeyId.TryParse("https://contoso.vault.azure.net/keys/vault-kek/78DEEBED173B48E48F55ABF87ED4CF71", out var id));
        Assert.Equal("https://contoso.vault.azure.net/keys/vault-kek/78deebed173b48e48f55abf87ed4cf71", id.Id);
        Assert.Equal("vault-kek", id.Name);
        foreach (var bad in new[]
        {
            "", "not a uri", "https://contoso.vault.azure.net/keys/vault-kek",
            "http://contoso.vault.azure.net/keys/vault-kek/78deebed173b48e48f55abf87ed4cf71",
            "https://contoso.vault.azure.net/secrets/vault-kek/78deebed173b48e48f55abf87ed4cf71",
            "https://contoso.vault.azure.net/keys/vault-kek/78deebed173b48e48f55abf87ed4cf71?x=1",
            "https://user@contoso.vault.azure.net/keys/vault-kek/78deebed173b48e48f55abf87ed4cf71",
            "https://contoso.vault.azure.net/keys/vault_kek/78deebed173b48e48f55abf87ed4cf71",
            "https://contoso.vault.azure.net/keys/vault-kek/78deebed",
        })
        {
            Assert.False(KeyVaultKeyId.TryParse(bad, out _), bad);
        }
    }

    private static byte[] Flip(byte[] bytes, int position)
    {
        var copy = (byte[])bytes.Clone();
        copy[position < 0 ? copy.Length + position : position] ^= 0x80;
        return copy;
    }
}
