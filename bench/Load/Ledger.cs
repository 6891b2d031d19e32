using System.Collections.Concurrent;
using System.Text.Json.Serialization;

namespace VaultGrains.Bench.Load;

/// <summary>
/// Every create a target acknowledged (201) and every delete (204), per vault, so that what the
/// target stores can be compared with what it promised. Creates that failed without an answer
/// (5xx, timeouts) may or may not be stored: they are counted as unknown.
/// </summary>
internal sealed class Ledger
{
    private readonly ConcurrentDictionary<string, VaultEntry> vaults = new(StringComparer.Ordinal);

    public void Acknowledged(BenchVault vault, string secretId) => Entry(vault).Add(secretId);

    public void Deleted(BenchVault vault, string secretId) => Entry(vault).Remove(secretId);

    public void Unknown(BenchVault vault) => Interlocked.Increment(ref Entry(vault).UnknownCount);

    public long AcknowledgedCount => vaults.Values.Sum(v => (long)v.Count);

    /// <summary>Up to <paramref name="perVault"/> acknowledged secrets of each of these vaults.</summary>
    public List<(BenchVault Vault, string SecretId)> Sample(IEnumerable<BenchVault> of, int perVault) =>
        of.SelectMany(v => vaults.TryGetValue(v.Id, out var entry) ? entry.Ids(perVault).Select(id => (v, id)) : []).ToList();

    public IReadOnlyList<LedgerVault> Export() =>
        vaults.Values.Select(v => new LedgerVault(v.Vault.Id, v.Vault.Tenant.OrganizationId, v.Vault.Tenant.Authorization, v.Ids(int.MaxValue), v.UnknownCount)).ToArray();

    private VaultEntry Entry(BenchVault vault) => vaults.GetOrAdd(vault.Id, _ => new VaultEntry(vault));

    private sealed class VaultEntry(BenchVault vault)
    {
        private readonly HashSet<string> ids = new(StringComparer.Ordinal);
        public int UnknownCount;

        public BenchVault Vault { get; } = vault;

        public int Count
        {
            get
            {
                lock (ids)
                {
                    return ids.Count;
                }
            }
        }

        public void Add(string id)
        {
            lock (ids)
            {
                ids.Add(id);
            }
        }

        public void Remove(string id)
        {
            lock (ids)
            {
                ids.Remove(id);
            }
        }

        public string[] Ids(int max)
        {
            lock (ids)
            {
                return ids.Take(max).ToArray();
            }
        }
    }
}

/// <summary>One vault of the ledger as saved between the run and the verification after a restart.</summary>
internal sealed record LedgerVault(
    [property: JsonPropertyName("vault_id")] string VaultId,
    [property: JsonPropertyName("organization_id")] string OrganizationId,
    [property: JsonPropertyName("authorization")] string Authorization,
    [property: JsonPropertyName("acknowledged")] string[] Acknowledged,
    [property: JsonPropertyName("unknown")] int Unknown);
