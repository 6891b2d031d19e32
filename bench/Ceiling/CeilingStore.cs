using System.Collections.Concurrent;
using System.Text;
using VaultGrains.Domain;

namespace VaultGrains.Bench.Ceiling;

/// <summary>Everything the ceiling server keeps, in memory: organizations, API key hashes and vaults.</summary>
internal sealed class CeilingStore
{
    public ConcurrentDictionary<string, OrganizationDetails> Organizations { get; } = new(StringComparer.Ordinal);

    /// <summary>SHA-256 of an API key → its organization.</summary>
    public ConcurrentDictionary<string, string> ApiKeys { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, CeilingVault> Vaults { get; } = new(StringComparer.Ordinal);
}

/// <summary>One vault's secrets, with the same uniqueness and limits as the vault grain, under a lock.</summary>
internal sealed class CeilingVault(string organizationId, VaultDetails details)
{
    private readonly Lock gate = new();
    private readonly List<SecretDetails> secrets = [];
    private readonly Dictionary<string, (SecretDetails Secret, int ValueBytes)> byId = new(StringComparer.Ordinal);
    private readonly HashSet<string> envKeys = new(StringComparer.Ordinal);
    private long totalValueBytes;

    public string OrganizationId { get; } = organizationId;

    public VaultDetails Details { get; } = details;

    public VaultError TryAdd(NewSecret secret, DateTime now, out SecretDetails created)
    {
        var valueBytes = Encoding.UTF8.GetByteCount(secret.Value.Plaintext);
        created = new SecretDetails(secret.Id, secret.EnvKey, secret.AllowedDomains, now, now);
        lock (gate)
        {
            if (envKeys.Contains(secret.EnvKey))
            {
                return VaultError.EnvKeyExists;
            }

            if (secrets.Count >= SecretRules.MaxSecretsPerVault || totalValueBytes + valueBytes > SecretRules.MaxValueBytesPerVault)
            {
                return VaultError.VaultFull;
            }

            secrets.Add(created);
            byId.Add(created.Id, (created, valueBytes));
            envKeys.Add(created.EnvKey);
            totalValueBytes += valueBytes;
            return VaultError.None;
        }
    }

    public SecretDetails[] List()
    {
        lock (gate)
        {
            return [.. secrets];
        }
    }

    public SecretDetails? Find(string secretId)
    {
        lock (gate)
        {
            return byId.TryGetValue(secretId, out var entry) ? entry.Secret : null;
        }
    }

    public bool Remove(string secretId)
    {
        lock (gate)
        {
            if (!byId.Remove(secretId, out var entry))
            {
                return false;
            }

            secrets.Remove(entry.Secret);
            envKeys.Remove(entry.Secret.EnvKey);
            totalValueBytes -= entry.ValueBytes;
            return true;
        }
    }
}
