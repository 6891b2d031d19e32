using System.Security.Cryptography;
using System.Text;
using Azure.Core.Cryptography;

namespace VaultGrains.Grains.Crypto;

/// <summary>
/// A key-encryption key kept in a local file (256 random bits, owner-only permissions), for
/// development and single-machine runs. Wraps with AES key wrap with padding (RFC 5649).
/// </summary>
public sealed class LocalKeyEncryptionKey : IKeyEncryptionKey, IKeyEncryptionKeyResolver
{
    public const string Algorithm = "A256KWP";
    private readonly byte[] key;

    private LocalKeyEncryptionKey(byte[] key)
    {
        this.key = key;
        KeyId = "local:" + Convert.ToHexStringLower(SHA256.HashData(key))[..16];
    }

    public string KeyId { get; }

    /// <summary>Loads the key file, creating it with mode 0600 on first use.</summary>
    public static LocalKeyEncryptionKey LoadOrCreate(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        if (!File.Exists(path))
        {
            // Created exclusively (O_EXCL): of silos starting together on a fresh data directory,
            // exactly one writes the key and the others read it. (A temporary file moved into place
            // was not enough: where the file system cannot link, .NET's no-overwrite move checks
            // and then renames, and two silos could each keep a different key.)
            try
            {
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }

                using var stream = new FileStream(path, options);
                stream.Write(Encoding.ASCII.GetBytes(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))));
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process created it first; use theirs.
            }
        }

        var bytes = ReadWhole(path);
        return new LocalKeyEncryptionKey(bytes);
    }

    // The creator's single write may not be visible yet to a process that lost the race: wait for it.
    private static byte[] ReadWhole(string path)
    {
        var deadline = Environment.TickCount64 + 5_000;
        while (true)
        {
            var text = File.ReadAllText(path).Trim();
            if (text.Length == 44 || Environment.TickCount64 > deadline)
            {
                var bytes = text.Length == 44 ? Convert.FromBase64String(text) : [];
                return bytes.Length == 32 ? bytes : throw new InvalidOperationException($"The key file {path} does not hold a 256-bit key.");
            }

            Thread.Sleep(10);
        }
    }

    public byte[] WrapKey(string algorithm, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
    {
        CheckAlgorithm(algorithm);
        using var aes = Aes.Create();
        aes.Key = this.key;
        return aes.EncryptKeyWrapPadded(key.Span);
    }

    public Task<byte[]> WrapKeyAsync(string algorithm, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default) =>
        Task.FromResult(WrapKey(algorithm, key, cancellationToken));

    public byte[] UnwrapKey(string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken = default)
    {
        CheckAlgorithm(algorithm);
        using var aes = Aes.Create();
        aes.Key = key;
        return aes.DecryptKeyWrapPadded(encryptedKey.Span);
    }

    public Task<byte[]> UnwrapKeyAsync(string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken = default) =>
        Task.FromResult(UnwrapKey(algorithm, encryptedKey, cancellationToken));

    public IKeyEncryptionKey Resolve(string keyId, CancellationToken cancellationToken = default) =>
        keyId == KeyId ? this : throw new WrappedKeyRejectedException($"Stored key id {keyId} is not the local key {KeyId}.");

    public Task<IKeyEncryptionKey> ResolveAsync(string keyId, CancellationToken cancellationToken = default) =>
        Task.FromResult(Resolve(keyId, cancellationToken));

    private static void CheckAlgorithm(string algorithm)
    {
        if (algorithm != Algorithm)
        {
            throw new WrappedKeyRejectedException($"The local key wraps with {Algorithm}, not \"{algorithm}\".");
        }
    }
}
