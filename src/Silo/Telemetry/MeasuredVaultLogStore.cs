using VaultGrains.Grains;
using VaultGrains.Grains.Vaults;

namespace VaultGrains.Silo.Telemetry;

/// <summary>
/// The vault log's storage, measured as the "vaults" provider: a head read is an activation's
/// load, a commit (an append, or the head of a new vault) is one group-commit write whose
/// completion closes the batch count (<see cref="VaultBatches"/>); sizes are the records written.
/// </summary>
internal sealed class MeasuredVaultLogStore(IVaultLogStore inner, IGrainContextAccessor batches) : DelegatingVaultLogStore(inner)
{
    private const string Provider = StorageNames.Vaults;

    public override Task<VaultLogHead?> ReadHeadAsync(string vaultId, CancellationToken cancellationToken) =>
        StorageMeasurement.ReadAsync(Provider, () => Inner.ReadHeadAsync(vaultId, cancellationToken));

    public override Task WriteCheckpointAsync(string vaultId, string log, ReadOnlyMemory<byte> checkpoint, CancellationToken cancellationToken)
    {
        SiloMetrics.WriteSize.Record(checkpoint.Length, new KeyValuePair<string, object?>("provider", Provider));
        return Inner.WriteCheckpointAsync(vaultId, log, checkpoint, cancellationToken);
    }

    public override Task AppendAsync(string vaultId, string log, long position, ReadOnlyMemory<byte> record, CancellationToken cancellationToken)
    {
        SiloMetrics.WriteSize.Record(record.Length, new KeyValuePair<string, object?>("provider", Provider));
        return Commit(() => Inner.AppendAsync(vaultId, log, position, record, cancellationToken));
    }

    public override async Task<string> CreateHeadAsync(string vaultId, string log, CancellationToken cancellationToken)
    {
        var etag = "";
        await Commit(async () => etag = await Inner.CreateHeadAsync(vaultId, log, cancellationToken));
        return etag;
    }

    private async Task Commit(Func<Task> write)
    {
        try
        {
            await StorageMeasurement.WriteAsync(Provider, write, e => e is VaultLogConflictException);
        }
        finally
        {
            VaultBatches.WriteCompleted(batches.GrainContext);
        }
    }
}
