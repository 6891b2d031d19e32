using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace VaultGrains.Domain;

/// <summary>
/// A bearer credential: a type prefix and 32 random bytes in base64url. Only its SHA-256 is ever
/// stored or sent to the cluster.
/// </summary>
public sealed class CredentialFormat(string prefix)
{
    private const int MinEncodedLength = 43;
    private const int MaxEncodedLength = 128;

    public string Prefix { get; } = prefix;

    public string Generate() => Prefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    /// <summary>The credential made of these 32 secret bytes, for one that must come out the same again.</summary>
    public string From(ReadOnlySpan<byte> secret) =>
        secret.Length == 32 ? Prefix + Base64Url.EncodeToString(secret) : throw new ArgumentException("A credential has 32 secret bytes.", nameof(secret));

    public bool IsWellFormed(string credential)
    {
        if (!credential.StartsWith(Prefix, StringComparison.Ordinal) || credential.Length < Prefix.Length + MinEncodedLength || credential.Length > Prefix.Length + MaxEncodedLength)
        {
            return false;
        }

        for (var i = Prefix.Length; i < credential.Length; i++)
        {
            var c = credential[i];
            if (!(char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_'))
            {
                return false;
            }
        }

        return true;
    }

    // 256 random bits: a fast hash is enough, there is nothing to brute-force.
    public static string Hash(string credential) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(credential)));

    public static string Hint(string credential) => credential[^4..];
}

/// <summary>The credentials of the public API and of the secret proxy.</summary>
public static class Credentials
{
    /// <summary>Public API keys (<c>nr_…</c>).</summary>
    public static readonly CredentialFormat ApiKey = new("nr_");

    /// <summary>Runtime tokens for the secret proxy (<c>rt_…</c>).</summary>
    public static readonly CredentialFormat RuntimeToken = new("rt_");
}
