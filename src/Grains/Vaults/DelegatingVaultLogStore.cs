namespace VaultGrains.Grains.Vaults;

/// <summary>
/// A store that passes every call to another (as <c>DelegatingHandler</c> does for HTTP):
/// decorators (metrics, fault injection) override only the calls they change.
/// </summary>
public abstract class DelegatingVaultLogStore(IVaultLogStore inner) : IVaultLogStore
{
    protected IVaultLogStore Inner { get; } = inner;

    public virtual Task<VaultLogHead?> ReadHeadAsync(string vaultId, CancellationToken cancellationToken) => Inner.ReadHeadAsync(vaultId, cancellationToken);

    public virtual Task<byte[]> ReadLogAsync(string vaultId, string log, CancellationToken cancellationToken) => Inner.ReadLogAsync(vaultId, log, cancellationToken);

    public virtual Task WriteCheckpointAsync(string vaultId, string log, ReadOnlyMemory<byte> checkpoint, CancellationToken cancellationToken) =>
        Inner.WriteCheckpointAsync(vaultId, log, checkpoint, cancellationToken);

    public virtual Task AppendAsync(string vaultId, string log, long position, ReadOnlyMemory<byte> record, CancellationToken cancellationToken) =>
        Inner.AppendAsync(vaultId, log, position, record, cancellationToken);

    public virtual Task<string> CreateHeadAsync(string vaultId, string log, CancellationToken cancellationToken) => Inner.CreateHeadAsync(vaultId, log, cancellationToken);

    public virtual Task<string> ReplaceHeadAsync(string vaultId, string log, string etag, CancellationToken cancellationToken) => Inner.ReplaceHeadAsync(vaultId, log, etag, cancellationToken);

    public virtual Task DeleteHeadAsync(string vaultId, CancellationToken cancellationToken) => Inner.DeleteHeadAsync(vaultId, cancellationToken);

    public virtual Task DeleteLogAsync(string vaultId, string log, CancellationToken cancellationToken) => Inner.DeleteLogAsync(vaultId, log, cancellationToken);

    public virtual Task<IReadOnlyList<string>> ListLogsAsync(string vaultId, CancellationToken cancellationToken) => Inner.ListLogsAsync(vaultId, cancellationToken);

    public virtual Task<LegacyVaultBlob?> ReadLegacyAsync(string vaultId, CancellationToken cancellationToken) => Inner.ReadLegacyAsync(vaultId, cancellationToken);

    public virtual Task DeleteLegacyAsync(string vaultId, string etag, CancellationToken cancellationToken) => Inner.DeleteLegacyAsync(vaultId, etag, cancellationToken);
}
