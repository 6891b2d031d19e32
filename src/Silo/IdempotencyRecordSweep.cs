using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace VaultGrains.Silo;

/// <summary>
/// Deletes Idempotency-Key records that expired and were never read again (a record read after
/// its 24 hours is removed by its grain). Runs hourly on every silo, from a random start so that
/// silos rarely overlap; an overlap only repeats a delete.
/// </summary>
public sealed class IdempotencyRecordSweep(TableClient table, TimeProvider clock, ILogger<IdempotencyRecordSweep> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    /// <summary>
    /// A row last written this long ago belongs to a record whose first attempt is older still, so
    /// it expired (24 h after that attempt), with an hour to spare for clock skew.
    /// </summary>
    public static readonly TimeSpan Age = TimeSpan.FromHours(25);

    /// <summary>Deletes the rows last written before <paramref name="writtenBefore"/>; returns how many.</summary>
    public async Task<int> SweepAsync(DateTimeOffset writtenBefore, CancellationToken cancellationToken)
    {
        var deleted = 0;
        try
        {
            var old = table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"Timestamp lt {writtenBefore}"), select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken);
            await foreach (var row in old)
            {
                try
                {
                    // If-Match: a record written again since the query (its key used afresh) stays.
                    await table.DeleteEntityAsync(row.PartitionKey, row.RowKey, row.ETag, cancellationToken);
                    deleted++;
                }
                catch (RequestFailedException e) when (e.Status is 404 or 412)
                {
                }
            }
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            // No table yet: no key was ever used.
        }

        return deleted;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(Interval * Random.Shared.NextDouble(), clock, stoppingToken);
            using var timer = new PeriodicTimer(Interval, clock);
            do
            {
                try
                {
                    var deleted = await SweepAsync(clock.GetUtcNow() - Age, stoppingToken);
                    logger.LogInformation("Idempotency sweep: {Deleted} expired record(s) deleted", deleted);
                }
                catch (RequestFailedException e)
                {
                    logger.LogWarning("Idempotency sweep failed ({Status}); next in {Interval}", e.Status, Interval);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
