namespace VaultGrains.Grains.Vaults;

/// <summary>Where a vault's log starts: the name of its current (or an earlier, sealed) log and the head's ETag.</summary>
public sealed record VaultLogHead(string Log, string ETag);

/// <summary>A vault stored whole by the grain storage of earlier versions, with its ETag.</summary>
public sealed record LegacyVaultBlob(ReadOnlyMemory<byte> Bytes, string ETag);

/// <summary>A conditional write lost: another writer (or an earlier try of the same write) got there first.</summary>
public sealed class VaultLogConflictException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The storage of vault logs: per vault a small head naming the current log, and logs that are
/// only appended to, each append conditional on the log's length. Bytes only: framing, sequence
/// numbers and fencing belong to <see cref="VaultLog"/>.
/// </summary>
public interface IVaultLogStore
{
    /// <summary>The vault's head, or null when it has none (a new vault, or one stored by an earlier version).</summary>
    Task<VaultLogHead?> ReadHeadAsync(string vaultId, CancellationToken cancellationToken);

    /// <summary>The whole log; a missing log is a <see cref="VaultLogCorruptException"/>: a head or seal named it.</summary>
    Task<byte[]> ReadLogAsync(string vaultId, string log, CancellationToken cancellationToken);

    /// <summary>Creates a log that must not exist yet, holding <paramref name="checkpoint"/> (the log is not reachable until a head or seal names it).</summary>
    Task WriteCheckpointAsync(string vaultId, string log, ReadOnlyMemory<byte> checkpoint, CancellationToken cancellationToken);

    /// <summary>
    /// Appends at <paramref name="position"/>, or throws <see cref="VaultLogConflictException"/> if
    /// the log is longer (another writer, or a retry of an append that landed) or gone.
    /// </summary>
    Task AppendAsync(string vaultId, string log, long position, ReadOnlyMemory<byte> record, CancellationToken cancellationToken);

    /// <summary>Creates the head, or throws <see cref="VaultLogConflictException"/> if one exists. Returns its ETag.</summary>
    Task<string> CreateHeadAsync(string vaultId, string log, CancellationToken cancellationToken);

    /// <summary>Points the head at <paramref name="log"/> if it still has <paramref name="etag"/>. Returns the new ETag.</summary>
    Task<string> ReplaceHeadAsync(string vaultId, string log, string etag, CancellationToken cancellationToken);

    Task DeleteHeadAsync(string vaultId, CancellationToken cancellationToken);

    Task DeleteLogAsync(string vaultId, string log, CancellationToken cancellationToken);

    /// <summary>Every log of the vault, reachable or left behind by an interrupted compaction.</summary>
    Task<IReadOnlyList<string>> ListLogsAsync(string vaultId, CancellationToken cancellationToken);

    Task<LegacyVaultBlob?> ReadLegacyAsync(string vaultId, CancellationToken cancellationToken);

    /// <summary>Deletes the earlier version's blob if it still has <paramref name="etag"/>.</summary>
    Task DeleteLegacyAsync(string vaultId, string etag, CancellationToken cancellationToken);
}
