using VaultGrains.Grains.Crypto;

namespace VaultGrains.Grains.Vaults;

/// <summary>The persisted form of a vault. Secrets keep their creation order.</summary>
[GenerateSerializer, Alias("VaultGrains.Grains.VaultState")]
internal sealed class VaultState
{
    [Id(0)] public string? OrganizationId { get; set; }
    [Id(1)] public string Name { get; set; } = "";
    [Id(2)] public string? Description { get; set; }
    [Id(3)] public DateTime CreatedAt { get; set; }
    [Id(4)] public DateTime UpdatedAt { get; set; }
    [Id(5)] public WrappedKey? VaultKey { get; set; }
    [Id(6)] public List<StoredSecret> Secrets { get; set; } = [];

    /// <summary>The runtimes that hold this vault: they alone get its values, and while any does the vault cannot be deleted.</summary>
    [Id(7)] public List<string> Runtimes { get; set; } = [];

    /// <summary>The HMAC of everything above under the vault's seal key (<see cref="VaultIntegrity"/>); null only in vaults written before seals.</summary>
    [Id(8)] public byte[]? IntegritySeal { get; set; }
}

/// <summary>One stored secret: metadata and its encrypted value. Never holds plaintext.</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.Grains.StoredSecret")]
internal sealed record StoredSecret(
    [property: Id(0)] string Id,
    [property: Id(1)] string EnvKey,
    [property: Id(2)] string[] AllowedDomains,
    [property: Id(3)] DateTime CreatedAt,
    [property: Id(4)] DateTime UpdatedAt,
    [property: Id(5)] int Version,
    [property: Id(6)] int ValueBytes,
    [property: Id(7)] EncryptedValue Value,
    [property: Id(8)] byte[]? Seal = null)
{
    // Seal: the HMAC of every field above under the vault's seal key (VaultIntegrity); null only
    // in secrets written before seals.

    public SecretDetails ToDetails() => new(Id, EnvKey, AllowedDomains, CreatedAt, UpdatedAt);
}

/// <summary>
/// A vault's state with its lookups. The grain keeps two: the committed one (what storage holds,
/// served to readers) and the working one (committed plus changes waiting for the next write).
/// </summary>
internal sealed class VaultModel
{
    private readonly Dictionary<string, StoredSecret> byId;
    private readonly HashSet<string> envKeys;
    // The secrets' metadata as listed, built once per model version: the committed model is
    // listed far more often than it changes.
    private SecretDetails[]? listed;
    private SecretListJson? listedJson;
    // Ids of secrets added, replaced or removed since this model was made: the next log record.
    private HashSet<string> touched = new(StringComparer.Ordinal);

    private VaultModel(VaultState state, Dictionary<string, StoredSecret> byId, HashSet<string> envKeys, long totalValueBytes)
    {
        State = state;
        this.byId = byId;
        this.envKeys = envKeys;
        TotalValueBytes = totalValueBytes;
    }

    public VaultState State { get; }

    public bool Exists => State.OrganizationId is not null;

    public int SecretCount => State.Secrets.Count;

    public long TotalValueBytes { get; private set; }

    public static VaultModel From(VaultState state)
    {
        var byId = state.Secrets.ToDictionary(s => s.Id, StringComparer.Ordinal);
        var envKeys = state.Secrets.Select(s => s.EnvKey).ToHashSet(StringComparer.Ordinal);
        return new VaultModel(state, byId, envKeys, state.Secrets.Sum(s => (long)s.ValueBytes));
    }

    public bool IsOwnedBy(string organizationId) => Exists && State.OrganizationId == organizationId;

    public VaultDetails ToDetails(string vaultId) =>
        new(vaultId, State.Name, State.Description, SecretCount, State.CreatedAt, State.UpdatedAt);

    public StoredSecret? Find(string secretId) => byId.GetValueOrDefault(secretId);

    public bool HasEnvKey(string envKey) => envKeys.Contains(envKey);

    public bool IsHeldBy(string runtimeId) => State.Runtimes.Contains(runtimeId, StringComparer.Ordinal);

    public IReadOnlyList<SecretDetails> ListDetails() => listed ??= State.Secrets.Select(s => s.ToDetails()).ToArray();

    /// <summary>The listing as the API sends it, encoded once per model version.</summary>
    public SecretListJson ListJson() => listedJson ??= new SecretListJson(SecretListEncoder.Encode(ListDetails()));

    /// <summary>Adds a secret in id order: ids are ULIDs minted by the API, so that is creation order even when creates race.</summary>
    public void Add(StoredSecret secret)
    {
        listed = null;
        listedJson = null;
        touched.Add(secret.Id);
        var index = State.Secrets.Count;
        while (index > 0 && string.CompareOrdinal(State.Secrets[index - 1].Id, secret.Id) > 0)
        {
            index--;
        }

        State.Secrets.Insert(index, secret);
        byId.Add(secret.Id, secret);
        envKeys.Add(secret.EnvKey);
        TotalValueBytes += secret.ValueBytes;
    }

    public void Replace(StoredSecret secret)
    {
        listed = null;
        listedJson = null;
        touched.Add(secret.Id);
        var old = byId[secret.Id];
        State.Secrets[State.Secrets.IndexOf(old)] = secret;
        byId[secret.Id] = secret;
        TotalValueBytes += secret.ValueBytes - old.ValueBytes;
    }

    public void Remove(string secretId)
    {
        listed = null;
        listedJson = null;
        touched.Add(secretId);
        var old = byId[secretId];
        State.Secrets.Remove(old);
        byId.Remove(secretId);
        envKeys.Remove(old.EnvKey);
        TotalValueBytes -= old.ValueBytes;
    }

    /// <summary>Forgets everything, including the wrapped vault key: what is left cannot be decrypted.</summary>
    public void Erase()
    {
        listed = null;
        listedJson = null;
        touched.UnionWith(byId.Keys);
        State.OrganizationId = null;
        State.VaultKey = null;
        State.Secrets.Clear();
        State.Runtimes.Clear();
        byId.Clear();
        envKeys.Clear();
        TotalValueBytes = 0;
    }

    /// <summary>The ids of secrets changed since the last call (or since this model was made), and forgets them.</summary>
    public IReadOnlySet<string> TakeTouched()
    {
        var taken = touched;
        touched = new HashSet<string>(StringComparer.Ordinal);
        return taken;
    }

    /// <summary>A copy that later changes to this model do not touch. Secrets are immutable records, so the copy is shallow.</summary>
    public VaultModel Clone()
    {
        var state = new VaultState
        {
            OrganizationId = State.OrganizationId,
            Name = State.Name,
            Description = State.Description,
            CreatedAt = State.CreatedAt,
            UpdatedAt = State.UpdatedAt,
            VaultKey = State.VaultKey,
            Secrets = [.. State.Secrets],
            Runtimes = [.. State.Runtimes],
            IntegritySeal = State.IntegritySeal,
        };
        return new VaultModel(state, new Dictionary<string, StoredSecret>(byId, StringComparer.Ordinal), new HashSet<string>(envKeys, StringComparer.Ordinal), TotalValueBytes);
    }
}
