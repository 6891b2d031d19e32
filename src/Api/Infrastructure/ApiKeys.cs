using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace VaultGrains.Api;

/// <summary>Public API keys: <c>nr_</c> and 32 random bytes in base64url. Only their SHA-256 ever leaves this process.</summary>
internal static class ApiKeys
{
    private const string Prefix = "nr_";
    private const int MinEncodedLength = 43;
    private const int MaxEncodedLength = 128;

    public static string Generate() => Prefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    public static bool IsWellFormed(string key)
    {
        if (!key.StartsWith(Prefix, StringComparison.Ordinal) || key.Length < Prefix.Length + MinEncodedLength || key.Length > Prefix.Length + MaxEncodedLength)
        {
            return false;
        }

        for (var i = Prefix.Length; i < key.Length; i++)
        {
            var c = key[i];
            if (!(char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_'))
            {
                return false;
            }
        }

        return true;
    }

    // The keys carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static string Hint(string key) => key[^4..];
}
