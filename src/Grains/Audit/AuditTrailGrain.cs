using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using VaultGrains.Domain;

namespace VaultGrains.Grains.Audit;

/// <summary>
/// One organization's trail. Reentrant so that appends arriving while one is being written join the
/// next write (a group commit across every vault of the organization); each append is answered only
/// after the write that holds it. A write whose answer was lost is settled by reading the tail back:
/// its last event is there or it is not. The segment being appended to is kept in memory, so recent
/// events are read without touching storage.
/// </summary>
[Reentrant]
internal sealed class AuditTrailGrain(
    IAuditStore store,
    IOptions<AuditOptions> options,
    TimeProvider clock,
    ILogger<AuditTrailGrain> logger) : Grain, IAuditTrailGrain
{
    private static readonly TimeSpan RetentionPeriod = TimeSpan.FromHours(1);
    private readonly List<(AuditEntry Entry, TaskCompletionSource<VaultError> Done)> waiting = [];
    private bool writing;
    private AuditTail? tail;
    private List<AuditRecord> activeRecords = [];

    private string OrganizationId => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(ct => ApplyRetentionAsync(ct), new GrainTimerCreationOptions(TimeSpan.FromMinutes(1), RetentionPeriod));
        return Task.CompletedTask;
    }

    public Task<VaultError> Append(IReadOnlyList<AuditEntry> entries)
    {
        if (!options.Value.Enabled || entries.Count == 0)
        {
            return Task.FromResult(VaultError.None);
        }

        var done = new TaskCompletionSource<VaultError>(TaskCreationOptions.RunContinuationsAsynchronously);
        foreach (var entry in entries)
        {
            waiting.Add((entry, done));
        }

        if (!writing)
        {
            writing = true;
            _ = WriteLoopAsync();
        }

        return done.Task;
    }

    public async Task<VaultReply<AuditPage>> Query(AuditQuery query)
    {
        var events = new List<string>(query.Limit);
        var passedCursor = query.Before is null;
        try
        {
            await foreach (var record in NewestFirstAsync())
            {
                if (!passedCursor)
                {
                    passedCursor = record.Id == query.Before;
                    continue;
                }

                if (query.Since is { } since && record.Time < since)
                {
                    return VaultReply<AuditPage>.Ok(new AuditPage(events, null));
                }

                if ((query.VaultId is null || record.VaultId == query.VaultId) && (query.Action is null || record.Action == query.Action))
                {
                    if (events.Count == query.Limit)
                    {
                        return VaultReply<AuditPage>.Ok(new AuditPage(events, LastId(events)));
                    }

                    events.Add(record.ToApiJson());
                }
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning("Audit trail of {OrganizationId} could not be read: {Error}", OrganizationId, e.GetType().Name);
            return VaultReply<AuditPage>.Fail(VaultError.AuditUnavailable);
        }

        return VaultReply<AuditPage>.Ok(new AuditPage(events, null));
    }

    public async Task<AuditVerification> Verify()
    {
        try
        {
            var anchor = await store.ReadAnchorAsync(OrganizationId, CancellationToken.None);
            var previous = anchor?.LastDeletedHash ?? AuditChain.Genesis;
            var verified = 0;
            foreach (var segment in await store.ListSegmentsAsync(OrganizationId, CancellationToken.None))
            {
                foreach (var record in AuditChain.Parse(await store.ReadSegmentAsync(OrganizationId, segment, CancellationToken.None)))
                {
                    if (record.PreviousHash != previous || AuditChain.Hash(previous, record.Json) != record.Hash)
                    {
                        return new AuditVerification(verified, record.Id.Length > 0 ? record.Id : $"{segment}#{verified}");
                    }

                    previous = record.Hash;
                    verified++;
                }
            }

            return new AuditVerification(verified, null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning("Audit trail of {OrganizationId} could not be verified: {Error}", OrganizationId, e.GetType().Name);
            return new AuditVerification(0, null, VaultError.AuditUnavailable);
        }
    }

    public Task<int> ApplyRetention() => ApplyRetentionAsync(CancellationToken.None);

    private async Task<int> ApplyRetentionAsync(CancellationToken cancellationToken)
    {
        var cutoff = clock.GetUtcNow().UtcDateTime - options.Value.Retention;
        var deleted = 0;
        var segments = await store.ListSegmentsAsync(OrganizationId, cancellationToken);

        // Whole segments only, oldest first, never the one being appended to. The anchor is written
        // before the delete, so verification of what remains can always start from it.
        foreach (var segment in segments.SkipLast(1))
        {
            var records = AuditChain.Parse(await store.ReadSegmentAsync(OrganizationId, segment, cancellationToken));
            if (records.Count > 0 && records[^1].Time >= cutoff)
            {
                break;
            }

            if (records.Count > 0)
            {
                await store.WriteAnchorAsync(OrganizationId, new AuditAnchor(records[^1].Id, records[^1].Hash), cancellationToken);
            }

            await store.DeleteSegmentAsync(OrganizationId, segment, cancellationToken);
            deleted++;
        }

        if (deleted > 0)
        {
            logger.LogInformation("Audit trail of {OrganizationId}: {Count} segment(s) past retention deleted", OrganizationId, deleted);
        }

        return deleted;
    }

    private async Task WriteLoopAsync()
    {
        try
        {
            while (waiting.Count > 0)
            {
                var batch = waiting.ToArray();
                waiting.Clear();
                var error = await WriteAsync(batch.Select(b => b.Entry).ToList());
                foreach (var done in batch.Select(b => b.Done).Distinct())
                {
                    done.TrySetResult(error);
                }
            }
        }
        finally
        {
            writing = false;
        }
    }

    private async Task<VaultError> WriteAsync(List<AuditEntry> entries)
    {
        try
        {
            var current = tail ??= await LoadTailAsync();
            var now = Timestamps.TruncateToMilliseconds(clock.GetUtcNow().UtcDateTime);
            var previous = current.LastHash;
            var records = new List<AuditRecord>(entries.Count);
            foreach (var entry in entries)
            {
                var record = AuditChain.Seal(ResourceId.New(ResourceId.Event), now, OrganizationId, entry, previous);
                records.Add(record);
                previous = record.Hash;
            }

            var text = string.Concat(records.Select(r => r.Line));
            var startNew = current.Segment is null || current.Length >= options.Value.SegmentBytes;
            var segment = startNew ? records[0].Id : current.Segment!;
            var expectedLength = startNew ? 0 : current.Length;
            try
            {
                await store.AppendAsync(OrganizationId, segment, startNew, expectedLength, text, CancellationToken.None);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Landed or not? The tail says. Either way it is what the next write chains to.
                logger.LogWarning("Audit append for {OrganizationId} failed: {Error}; reading the tail back", OrganizationId, e.GetType().Name);
                tail = null;
                var settled = await LoadTailAsync();
                tail = settled;
                return settled.LastEventId == records[^1].Id ? VaultError.None : VaultError.AuditUnavailable;
            }

            if (startNew)
            {
                activeRecords = [];
            }

            activeRecords.AddRange(records);
            tail = new AuditTail(segment, expectedLength + System.Text.Encoding.UTF8.GetByteCount(text), current.Blocks + 1, previous, records[^1].Id);
            return VaultError.None;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            tail = null;
            logger.LogWarning("Audit trail of {OrganizationId} unavailable: {Error}", OrganizationId, e.GetType().Name);
            return VaultError.AuditUnavailable;
        }
    }

    private async Task<AuditTail> LoadTailAsync()
    {
        var segments = await store.ListSegmentsAsync(OrganizationId, CancellationToken.None);
        if (segments.Count == 0)
        {
            activeRecords = [];
            var anchor = await store.ReadAnchorAsync(OrganizationId, CancellationToken.None);
            return anchor is null ? AuditTail.Empty : AuditTail.Empty with { LastHash = anchor.LastDeletedHash, LastEventId = anchor.LastDeletedEventId };
        }

        var last = segments[^1];
        var text = await store.ReadSegmentAsync(OrganizationId, last, CancellationToken.None);
        var records = AuditChain.Parse(text);
        activeRecords = records;

        // A torn last line (never acknowledged) stays in the blob: start a new segment after it
        // rather than append behind half a record.
        var torn = text.Length > 0 && text[^1] != '\n';
        var length = torn ? long.MaxValue : System.Text.Encoding.UTF8.GetByteCount(text);
        return records.Count == 0
            ? AuditTail.Empty with { Segment = last, Length = length }
            : new AuditTail(last, length, records.Count, records[^1].Hash, records[^1].Id);
    }

    // The segment in memory first (it is the newest), then the older ones from storage.
    private async IAsyncEnumerable<AuditRecord> NewestFirstAsync()
    {
        tail ??= await LoadTailAsync();
        var inMemory = activeRecords.ToArray();
        for (var i = inMemory.Length - 1; i >= 0; i--)
        {
            yield return inMemory[i];
        }

        var segments = await store.ListSegmentsAsync(OrganizationId, CancellationToken.None);
        foreach (var segment in segments.Reverse().Where(s => s != tail.Segment))
        {
            var records = AuditChain.Parse(await store.ReadSegmentAsync(OrganizationId, segment, CancellationToken.None));
            for (var i = records.Count - 1; i >= 0; i--)
            {
                yield return records[i];
            }
        }
    }

    private static string? LastId(List<string> events) =>
        System.Text.Json.JsonDocument.Parse(events[^1]).RootElement.GetProperty("id").GetString();
}
