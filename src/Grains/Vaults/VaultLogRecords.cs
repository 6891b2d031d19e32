using Orleans.Serialization;
using VaultGrains.Grains.Crypto;

namespace VaultGrains.Grains.Vaults;

/// <summary>The vault's own fields, written whole whenever one of them changes (they are small).</summary>
[GenerateSerializer, Immutable, Alias("VaultGrains.Grains.Vaults.VaultHeader")]
internal sealed record VaultHeader(
    [property: Id(0)] string? OrganizationId,
    [property: Id(1)] string Name,
    [property: Id(2)] string? Description,
    [property: Id(3)] DateTime CreatedAt,
    [property: Id(4)] DateTime UpdatedAt,
    [property: Id(5)] WrappedKey? VaultKey,
    [property: Id(6)] string[] Runtimes)
{
    public static VaultHeader Of(VaultState state) =>
        new(state.OrganizationId, state.Name, state.Description, state.CreatedAt, state.UpdatedAt, state.VaultKey, [.. state.Runtimes]);

    public bool SameAs(VaultState state) =>
        OrganizationId == state.OrganizationId && Name == state.Name && Description == state.Description
        && CreatedAt == state.CreatedAt && UpdatedAt == state.UpdatedAt && ReferenceEquals(VaultKey, state.VaultKey)
        && Runtimes.SequenceEqual(state.Runtimes, StringComparer.Ordinal);

    public void ApplyTo(VaultState state)
    {
        state.OrganizationId = OrganizationId;
        state.Name = Name;
        state.Description = Description;
        state.CreatedAt = CreatedAt;
        state.UpdatedAt = UpdatedAt;
        state.VaultKey = VaultKey;
        state.Runtimes = [.. Runtimes];
    }
}

/// <summary>One group-commit batch: only what changed.</summary>
[GenerateSerializer, Alias("VaultGrains.Grains.Vaults.VaultBatchRecord")]
internal sealed class VaultBatchRecord
{
    /// <summary>The vault's fields after the batch, when any changed.</summary>
    [Id(0)] public VaultHeader? Header { get; set; }

    /// <summary>Secrets added or replaced, whole.</summary>
    [Id(1)] public List<StoredSecret> Upserted { get; set; } = [];

    /// <summary>Ids of secrets removed.</summary>
    [Id(2)] public List<string> Removed { get; set; } = [];

    /// <summary>The vault was deleted: everything before is forgotten, including its wrapped key.</summary>
    [Id(3)] public bool Erased { get; set; }

    /// <summary>The whole vault's integrity seal after the batch (<see cref="VaultState.IntegritySeal"/>).</summary>
    [Id(4)] public byte[]? IntegritySeal { get; set; }

    /// <summary>The batch's audit events, durable here with the change; the organization's trail copies them.</summary>
    [Id(5)] public List<StagedAuditEvent>? AuditEvents { get; set; }

    /// <summary>Every audit event of the records up to this sequence number is known to be in the trail.</summary>
    [Id(6)] public long AuditWrittenThrough { get; set; }
}

/// <summary>The whole vault as of the record's sequence number.</summary>
[GenerateSerializer, Alias("VaultGrains.Grains.Vaults.VaultCheckpointRecord")]
internal sealed class VaultCheckpointRecord
{
    [Id(0)] public VaultState State { get; set; } = new();

    /// <summary>The ETag of the grain-storage blob this vault was moved from, on the first checkpoint after an upgrade.</summary>
    [Id(1)] public string? MigratedFromETag { get; set; }

    /// <summary>Audit events of earlier records (and of this batch) not yet known to be in the trail, a list per batch.</summary>
    [Id(2)] public List<List<StagedAuditEvent>>? UnwrittenAudit { get; set; }
}

/// <summary>The last record of a log that compaction replaced: the log that continues it starts with a checkpoint of the same sequence number.</summary>
[GenerateSerializer, Alias("VaultGrains.Grains.Vaults.VaultSealRecord")]
internal sealed class VaultSealRecord
{
    [Id(0)] public string NextLog { get; set; } = "";
}

/// <summary>Serializes log payloads with the Orleans serializer: fields by id, unknown ones skipped, so older and newer silos read each other's records.</summary>
internal sealed class VaultLogCodec(Serializer serializer)
{
    public byte[] Encode<T>(T payload) => serializer.SerializeToArray(payload);

    public T Decode<T>(VaultLogFrame frame)
    {
        try
        {
            return serializer.Deserialize<T>(frame.Payload) ?? throw new VaultLogCorruptException($"Vault log record {frame.Sequence} ({frame.Kind}) is empty.");
        }
        catch (Exception e) when (e is not OutOfMemoryException and not VaultLogCorruptException)
        {
            throw new VaultLogCorruptException($"Vault log record {frame.Sequence} ({frame.Kind}) does not deserialize: {e.GetType().Name}.");
        }
    }

    /// <summary>A vault as Orleans' blob grain storage wrote it before the log (the same serializer, whole state).</summary>
    public VaultState DecodeLegacy(ReadOnlyMemory<byte> bytes) =>
        serializer.Deserialize<VaultState>(bytes) ?? throw new VaultLogCorruptException("A vault stored by an earlier version is empty.");
}
