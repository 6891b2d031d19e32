using System.Security.Cryptography;
using System.Text;
using VaultGrains.Domain;

namespace VaultGrains.Api;

/// <summary>
/// Makes the ids and credentials a request creates. Without an Idempotency-Key they are random.
/// With one, they come from the key's record (a seed and the first attempt's time), so every
/// attempt of the same request makes the same ones: a repeat of a create whose outcome was lost
/// reaches the same grain, which answers with what the lost attempt made instead of making a second.
/// </summary>
internal sealed class ResourceMinter
{
    /// <summary>Random ids and credentials: a request without an Idempotency-Key.</summary>
    public static readonly ResourceMinter Unseeded = new(null, default, false);
    private readonly byte[]? seed;
    private readonly DateTimeOffset time;
    private readonly Dictionary<string, int> counts = new(StringComparer.Ordinal);

    public ResourceMinter(byte[]? seed, DateTimeOffset time, bool earlierAttemptMayHaveRun)
    {
        this.seed = seed;
        this.time = time;
        EarlierAttemptMayHaveRun = earlierAttemptMayHaveRun;
    }

    /// <summary>An earlier attempt of this request ended without a known outcome: what it created may exist.</summary>
    public bool EarlierAttemptMayHaveRun { get; }

    public static ResourceMinter For(HttpContext http) => http.Features.Get<ResourceMinter>() ?? Unseeded;

    public string NewId(string prefix) =>
        seed is null ? ResourceId.New(prefix) : ResourceId.Of(prefix, time, Derive("id", prefix, 10));

    public string NewCredential(CredentialFormat format) =>
        seed is null ? format.Generate() : format.From(Derive("credential", format.Prefix, 32));

    private byte[] Derive(string kind, string prefix, int length)
    {
        var index = counts[kind + prefix] = counts.GetValueOrDefault(kind + prefix) + 1;
        var derived = HMACSHA256.HashData(seed!, Encoding.ASCII.GetBytes($"{kind}\n{prefix}\n{index}"));
        return derived[..length];
    }
}
