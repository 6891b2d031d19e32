using Azure;
using VaultGrains.Grains;
using VaultGrains.Grains.Audit;

namespace VaultGrains.Silo.Telemetry;

/// <summary>
/// The audit trail's storage, measured as the "audit" provider: every change waits on the trail
/// (it refuses changes while it cannot write), so its appends' latency and failures belong beside
/// the vaults'. An append is one write (a whole group of events), a segment read is a read (an
/// activation's tail, a query or a verification past memory). The rest passes through unmeasured.
/// </summary>
internal sealed class MeasuredAuditStore(IAuditStore inner) : IAuditStore
{
    private const string Provider = StorageNames.Audit;

    public Task AppendAsync(string organizationId, string segment, bool create, long expectedLength, ReadOnlyMemory<byte> lines, CancellationToken cancellationToken)
    {
        SiloMetrics.WriteSize.Record(lines.Length, new KeyValuePair<string, object?>("provider", Provider));
        // A conflict is another writer, or a retried append that had landed: the trail reads its tail back.
        return StorageMeasurement.WriteAsync(Provider, () => inner.AppendAsync(organizationId, segment, create, expectedLength, lines, cancellationToken),
            e => e is RequestFailedException { Status: 409 or 412 });
    }

    public Task<string> ReadSegmentAsync(string organizationId, string segment, CancellationToken cancellationToken) =>
        StorageMeasurement.ReadAsync(Provider, () => inner.ReadSegmentAsync(organizationId, segment, cancellationToken));

    public Task<IReadOnlyList<string>> ListSegmentsAsync(string organizationId, CancellationToken cancellationToken) =>
        inner.ListSegmentsAsync(organizationId, cancellationToken);

    public Task DeleteSegmentAsync(string organizationId, string segment, CancellationToken cancellationToken) =>
        inner.DeleteSegmentAsync(organizationId, segment, cancellationToken);

    public Task<AuditAnchor?> ReadAnchorAsync(string organizationId, CancellationToken cancellationToken) =>
        inner.ReadAnchorAsync(organizationId, cancellationToken);

    public Task WriteAnchorAsync(string organizationId, AuditAnchor anchor, CancellationToken cancellationToken) =>
        inner.WriteAnchorAsync(organizationId, anchor, cancellationToken);

    public Task<(IReadOnlyList<string> Vaults, string? ETag)> ReadStagingVaultsAsync(string organizationId, CancellationToken cancellationToken) =>
        inner.ReadStagingVaultsAsync(organizationId, cancellationToken);

    public Task<string?> TryWriteStagingVaultsAsync(string organizationId, IReadOnlyCollection<string> vaults, string? etag, CancellationToken cancellationToken) =>
        inner.TryWriteStagingVaultsAsync(organizationId, vaults, etag, cancellationToken);
}
