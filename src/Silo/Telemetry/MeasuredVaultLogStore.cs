using System.Diagnostics;
using VaultGrains.Grains;
using VaultGrains.Grains.Vaults;

namespace VaultGrains.Silo.Telemetry;

/// <summary>
/// The vault log's storage, measured as the "vaults" provider: a head read is an activation's
/// load, a commit (an append, or the head of a new vault) is one group-commit write whose
/// completion closes the batch count (<see cref="VaultBatches"/>); sizes are the records written.
/// </summary>
internal sealed class MeasuredVaultLogStore(IVaultLogStore inner, IGrainContextAccessor batches) : IVaultLogStore
{
    private const string Provider = StorageNames.Vaults;

    public async Task<VaultLogHead?> ReadHeadAsync(string vaultId, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var outcome = "error";
        try
        {
            var head = await inner.ReadHeadAsync(vaultId, cancellationToken);
            outcome = "success";
            return head;
        }
        finally
        {
            SiloMetrics.ReadDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new TagList { { "provider", Provider }, { "outcome", outcome } });
        }
    }

    public Task<byte[]> ReadLogAsync(string vaultId, string log, CancellationToken cancellationToken) => inner.ReadLogAsync(vaultId, log, cancellationToken);

    public Task WriteCheckpointAsync(string vaultId, string log, ReadOnlyMemory<byte> checkpoint, CancellationToken cancellationToken)
    {
        SiloMetrics.WriteSize.Record(checkpoint.Length, new KeyValuePair<string, object?>("provider", Provider));
        return inner.WriteCheckpointAsync(vaultId, log, checkpoint, cancellationToken);
    }

    public Task AppendAsync(string vaultId, string log, long position, ReadOnlyMemory<byte> record, CancellationToken cancellationToken)
    {
        SiloMetrics.WriteSize.Record(record.Length, new KeyValuePair<string, object?>("provider", Provider));
        return Commit(() => inner.AppendAsync(vaultId, log, position, record, cancellationToken));
    }

    public async Task<string> CreateHeadAsync(string vaultId, string log, CancellationToken cancellationToken)
    {
        var etag = "";
        await Commit(async () => etag = await inner.CreateHeadAsync(vaultId, log, cancellationToken));
        return etag;
    }

    public Task<string> ReplaceHeadAsync(string vaultId, string log, string etag, CancellationToken cancellationToken) => inner.ReplaceHeadAsync(vaultId, log, etag, cancellationToken);

    public Task DeleteHeadAsync(string vaultId, CancellationToken cancellationToken) => inner.DeleteHeadAsync(vaultId, cancellationToken);

    public Task DeleteLogAsync(string vaultId, string log, CancellationToken cancellationToken) => inner.DeleteLogAsync(vaultId, log, cancellationToken);

    public Task<IReadOnlyList<string>> ListLogsAsync(string vaultId, CancellationToken cancellationToken) => inner.ListLogsAsync(vaultId, cancellationToken);

    public Task<LegacyVaultBlob?> ReadLegacyAsync(string vaultId, CancellationToken cancellationToken) => inner.ReadLegacyAsync(vaultId, cancellationToken);

    public Task DeleteLegacyAsync(string vaultId, string etag, CancellationToken cancellationToken) => inner.DeleteLegacyAsync(vaultId, etag, cancellationToken);

    private async Task Commit(Func<Task> write)
    {
        var started = Stopwatch.GetTimestamp();
        var outcome = "error";
        try
        {
            await write();
            outcome = "success";
        }
        catch (VaultLogConflictException)
        {
            outcome = "conflict";
            throw;
        }
        finally
        {
            SiloMetrics.WriteDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new TagList { { "provider", Provider }, { "outcome", outcome } });
            VaultBatches.WriteCompleted(batches.GrainContext);
        }
    }
}
