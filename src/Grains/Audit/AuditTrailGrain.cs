using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using VaultGrains.Domain;
using VaultGrains.Grains.Vaults;

namespace VaultGrains.Grains.Audit;

/// <summary>
/// One organization's trail. Reentrant so that events arriving while one write is under way join
/// the next (a group commit across every grain of the organization).
/// <para>
/// Two ways in. <see cref="Append"/> (organizations, keys, runtimes, the API) is answered only after
/// the write that holds its events. <see cref="Stage"/> (vaults) is answered once the events are
/// taken: the vault writes the same events inside its own log record before it acknowledges the
/// change, so they are durable there, and the chain takes them within <see cref="AuditOptions.WriteDelay"/>,
/// one append for every vault of the organization. A vault's events are copied into the chain by
/// id: a copy the chain already holds is skipped, so a vault can always send them again.
/// </para>
/// <para>
/// What this activation took but has not written lives only in memory and in the vaults' logs.
/// So before it takes a vault's first events, the vault's id is written to a small list in
/// storage; the next activation asks every vault on that list to deliver what its log holds
/// (<see cref="IVaultGrain.DeliverAuditEvents"/>), and the list is pruned to the vaults whose
/// events still wait or that staged in the last two minutes. While writes fail (or fall behind),
/// staging waits for the write like an append, so changes are refused with the trail: it fails closed.
/// A batch a busy vault is already writing (<c>writtenMeanwhile</c>) is the exception: its events
/// are taken and kept at once, and the answer only stops the vault's next batch.
/// </para>
/// A write whose answer was lost is settled by reading the tail back: its last event is there or
/// it is not. The segment being appended to is kept in memory, so recent events are read without
/// touching storage, and so are the ids chained in the last minutes, so copies are recognized.
/// </summary>
[Reentrant]
internal sealed class AuditTrailGrain(
    IAuditStore store,
    IOptions<AuditOptions> options,
    TimeProvider clock,
    ILogger<AuditTrailGrain> logger) : Grain, IAuditTrailGrain
{
    private static readonly TimeSpan RetentionPeriod = TimeSpan.FromHours(1);
    private static readonly TimeSpan UpkeepPeriod = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);
    // A chain behind by more than this (on top of the write delay) is treated as failing.
    private static readonly TimeSpan MaxLag = TimeSpan.FromSeconds(2);
    // The clocks of the silo that made an id and of this one may differ by up to this.
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(1);
    private const int MaxEventsPerWrite = 4_000;
    // Enough company: a write starts without waiting out the delay. Keeps each write, and what a busy
    // vault owes meanwhile (its checkpoints carry it), to about a quarter of a second of a hot vault.
    private const int EnoughEventsToWrite = 1_000;
    private const int RecoveryParallelism = 16;
    // Within the API's 3 s per call: a read is answered (or refused) before the caller gives up.
    private static readonly TimeSpan RecoveryWait = TimeSpan.FromSeconds(2);

    private readonly List<Waiting> waiting = [];
    private readonly Dictionary<string, Waiting> waitingById = new(StringComparer.Ordinal);
    // The ids chained in the last two minutes (and those of the segment being appended to when this
    // activation began), so a vault's question whether its events were written is answered from
    // memory: it asks within seconds, or after a backoff of up to 30 s. Memory answers for every id
    // made ClockSkew after chained.Since; older ones are looked for in storage.
    private readonly ChainedEventIds chained = new(TimeSpan.FromMinutes(2), capacity: 1_000_000);
    private bool writing;
    private bool failing;
    private TaskCompletionSource? wake;
    private AuditTail? tail;
    private Task<AuditTail>? loadingTail;
    private List<AuditRecord> activeRecords = [];

    // The stored list of vaults whose staged events may not be written yet.
    private readonly SemaphoreSlim stagingListGate = new(1, 1);
    private HashSet<string> stagingListed = new(StringComparer.Ordinal);
    private string? stagingListETag;
    private bool stagingListRead;
    private readonly Dictionary<string, int> stagingInFlight = new(StringComparer.Ordinal);
    // When each listed vault last staged events. A vault stays on the list until it has been quiet
    // this long: an active vault stages again within seconds, and cutting the list every 30 s to the
    // vaults with events waiting at that instant had every active vault write it again on its next
    // change (a storage write per vault per 30 s, with that change waiting for it).
    private readonly Dictionary<string, DateTime> lastStaged = new(StringComparer.Ordinal);
    private static readonly TimeSpan ListedWhileQuiet = TimeSpan.FromMinutes(2);
    /// <summary>
    /// An activation that goes keeps a vault that staged this recently on the stored list (its
    /// successor asks it to deliver): the vault may still be writing a batch without waiting for
    /// the trail's answer (<see cref="VaultLog.TrailAnswerFresh"/>), which a new activation would
    /// only list once it took the events.
    /// </summary>
    internal static readonly TimeSpan ListedAfterDeactivation = 4 * VaultLog.TrailAnswerFresh;
    private HashSet<string> recovering = new(StringComparer.Ordinal);
    private Task? recovery;
    private Task? upkeep;

    private string OrganizationId => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(ct => ApplyRetentionAsync(ct), new GrainTimerCreationOptions(TimeSpan.FromMinutes(1), RetentionPeriod));
        if (options.Value.Enabled)
        {
            // Runs on from here: what an earlier activation may have lost is asked for at once.
            upkeep = recovery = UpkeepAsync();
            this.RegisterGrainTimer(_ => upkeep is { IsCompleted: false } ? Task.CompletedTask : upkeep = UpkeepAsync(), new GrainTimerCreationOptions(UpkeepPeriod, UpkeepPeriod));
        }

        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        try
        {
            if (waiting.Count > 0)
            {
                await FlushAsync();
            }

            // Everything taken is written now: a successor need not ask the active vaults (but those
            // that staged moments ago).
            await PruneStagingListAsync(keepActive: false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // What waits is in its vaults' logs, and they are on the stored list: the next activation asks them.
            logger.LogWarning("Audit trail of {OrganizationId} deactivated with {Count} event(s) unwritten: {Error}", OrganizationId, waiting.Count, e.GetType().Name);
        }
    }

    public Task<VaultError> Append(IReadOnlyList<AuditEntry> entries)
    {
        if (!options.Value.Enabled || entries.Count == 0)
        {
            return Task.FromResult(VaultError.None);
        }

        var done = new TaskCompletionSource<VaultError>(TaskCreationOptions.RunContinuationsAsynchronously);
        var now = Now();
        Enqueue([.. entries.Select(entry => new Waiting(ResourceId.New(ResourceId.Event), entry, done, now))]);
        return done.Task;
    }

    public async Task<VaultError> Stage(string vaultId, IReadOnlyList<StagedAuditEvent> events, bool untilWritten, bool again, bool writtenMeanwhile)
    {
        if (!options.Value.Enabled || events.Count == 0)
        {
            return VaultError.None;
        }

        stagingInFlight[vaultId] = stagingInFlight.GetValueOrDefault(vaultId) + 1;
        try
        {
            List<StagedAuditEvent> fresh;
            try
            {
                fresh = await NotInChainAsync(events, again);
                if (fresh.Count > 0 && !await ListStagingVaultAsync(vaultId))
                {
                    return VaultError.AuditUnavailable;
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogWarning("Audit trail of {OrganizationId} could not take events of {VaultId}: {Error}", OrganizationId, vaultId, e.GetType().Name);
                return VaultError.AuditUnavailable;
            }

            if (fresh.Count == 0)
            {
                return VaultError.None;
            }

            // While the chain cannot be written, a vault's change waits for its own write and is
            // refused with it. A batch the vault writes meanwhile is already on its way to storage:
            // its events are kept like any staged ones, and the answer stops the vault's next batch.
            var now = Now();
            lastStaged[vaultId] = now;
            var behind = failing || (waiting.Count > 0 && now - waiting[0].Since > options.Value.WriteDelay + MaxLag);
            untilWritten |= behind && !writtenMeanwhile;
            var done = untilWritten ? new TaskCompletionSource<VaultError>(TaskCreationOptions.RunContinuationsAsynchronously) : null;
            Enqueue([.. fresh.Select(staged => new Waiting(staged.Id, staged.Entry, done, now, vaultId))]);

            return done is not null ? await done.Task : behind ? VaultError.AuditUnavailable : VaultError.None;
        }
        finally
        {
            if (--stagingInFlight[vaultId] == 0)
            {
                stagingInFlight.Remove(vaultId);
            }
        }
    }

    public async Task<VaultError> AwaitWritten(IReadOnlyList<string> eventIds, bool now)
    {
        if (!options.Value.Enabled)
        {
            return VaultError.None;
        }

        var pending = new List<Waiting>();
        var unknown = new List<string>();
        foreach (var id in eventIds)
        {
            if (waitingById.TryGetValue(id, out var item))
            {
                pending.Add(item);
            }
            else if (!chained.Contains(id))
            {
                unknown.Add(id);
            }
        }

        if (unknown.Count > 0 && !await FoundInOlderSegmentsAsync(unknown))
        {
            return VaultError.AuditUnavailable;
        }

        foreach (var item in pending)
        {
            item.Written ??= new TaskCompletionSource<VaultError>(TaskCreationOptions.RunContinuationsAsynchronously);
            item.Flush |= now;
        }

        if (now && pending.Count > 0)
        {
            wake?.TrySetResult();
        }

        foreach (var item in pending)
        {
            if (await item.Written!.Task != VaultError.None)
            {
                return VaultError.AuditUnavailable;
            }
        }

        return VaultError.None;
    }

    // Ids older than what memory answers for are looked for in storage; found ones are remembered.
    private async Task<bool> FoundInOlderSegmentsAsync(List<string> ids)
    {
        try
        {
            await TailAsync();
            var oldest = ids.Min(id => ResourceId.TimeOf(id, ResourceId.Event) ?? DateTime.MinValue) - ClockSkew;
            if (oldest >= chained.Since)
            {
                return false;
            }

            var older = await OlderIdsAsync(oldest);
            if (!ids.All(older.Contains))
            {
                return false;
            }

            foreach (var id in ids)
            {
                chained.AddFound(id);
            }

            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning("Audit trail of {OrganizationId} could not look for older events: {Error}", OrganizationId, e.GetType().Name);
            return false;
        }
    }

    public async Task<VaultReply<AuditPage>> Query(AuditQuery query)
    {
        var events = new List<string>(query.Limit);
        var passedCursor = query.Before is null;
        try
        {
            // What waits to be written is part of the trail already: a query sees it.
            if (await RecoveredAndFlushedAsync() != VaultError.None)
            {
                return VaultReply<AuditPage>.Fail(VaultError.AuditUnavailable);
            }

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
            if (await RecoveredAndFlushedAsync() != VaultError.None)
            {
                return new AuditVerification(0, null, VaultError.AuditUnavailable);
            }

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

    // All of one call's events at once: a caller's answer waits for the write of its last event,
    // so they must not be split by a write that starts between them.
    private void Enqueue(List<Waiting> items)
    {
        foreach (var item in items)
        {
            waiting.Add(item);
            waitingById[item.Id] = item;
        }

        if (waiting.Count >= EnoughEventsToWrite || items.Any(item => item.Caller is not null))
        {
            wake?.TrySetResult();
        }

        if (!writing)
        {
            writing = true;
            _ = WriteLoopAsync();
        }
    }

    // A reader sees every acknowledged change: what vaults delivered after an earlier activation was
    // lost and what waits for the next write. While vaults are still delivering (those of a lost
    // silo answer only once the cluster has declared it dead), a read is refused, not answered with
    // a trail that may lack events: the caller gets a 503 and tries again.
    // A vault that did not deliver in the last pass (its silo not yet declared dead, a call that
    // timed out) keeps reads refused, and a read asks it again rather than wait for the timer; so
    // does a stored list this activation could not read yet.
    // The stored list is unread, or a listed vault has not delivered: the trail may lack events.
    private bool MayLackEvents => !stagingListRead || recovering.Count > 0;

    private async Task<VaultError> RecoveredAndFlushedAsync()
    {
        if (!options.Value.Enabled)
        {
            return await FlushAsync();
        }

        if (MayLackEvents && recovery is not { IsCompleted: false })
        {
            upkeep = recovery = upkeep is { IsCompleted: false } running ? running : UpkeepAsync();
        }

        if (recovery is { IsCompleted: false } pending && await Task.WhenAny(pending, Task.Delay(RecoveryWait, clock)) != pending
            || MayLackEvents)
        {
            logger.LogWarning("Audit trail of {OrganizationId}: read refused while vaults deliver what an earlier activation may have lost", OrganizationId);
            return VaultError.AuditUnavailable;
        }

        return await FlushAsync();
    }

    /// <summary>Writes everything waiting now; the outcome of the write that holds the last of it.</summary>
    private async Task<VaultError> FlushAsync()
    {
        if (waiting.Count == 0)
        {
            return VaultError.None;
        }

        var last = waiting[^1];
        last.Written ??= new TaskCompletionSource<VaultError>(TaskCreationOptions.RunContinuationsAsynchronously);
        last.Flush = true;
        wake?.TrySetResult();
        return await last.Written.Task;
    }

    // Staged events wait up to WriteDelay for company; an append's caller, a flush or a retry after
    // a failure does not wait.
    private async Task WriteLoopAsync()
    {
        try
        {
            while (waiting.Count > 0)
            {
                var due = waiting[0].Since + options.Value.WriteDelay - Now();
                if (!failing && due > TimeSpan.Zero && waiting.Count < EnoughEventsToWrite && !waiting.Any(w => w.Caller is not null || w.Flush))
                {
                    wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    await Task.WhenAny(Task.Delay(due, clock), wake.Task);
                    wake = null;
                }

                // Never splits one caller's events: its answer is that of the one write holding them all.
                var count = Math.Min(MaxEventsPerWrite, waiting.Count);
                while (count < waiting.Count && waiting[count - 1].Caller is { } caller && waiting[count].Caller == caller)
                {
                    count++;
                }

                var batch = waiting.GetRange(0, count);
                waiting.RemoveRange(0, count);
                var error = await WriteAsync(batch);
                if (error == VaultError.None)
                {
                    failing = false;
                    foreach (var item in batch)
                    {
                        waitingById.Remove(item.Id);
                        item.Caller?.TrySetResult(VaultError.None);
                        item.Written?.TrySetResult(VaultError.None);
                    }

                    continue;
                }

                // A caller that waits is told, and its events are dropped: it refuses its change.
                // Staged events are durable in their vault's log: kept, first in line, and tried again.
                failing = true;
                var kept = new List<Waiting>(batch.Count);
                foreach (var item in batch)
                {
                    var written = item.Written;
                    item.Written = null;
                    written?.TrySetResult(VaultError.AuditUnavailable);
                    if (item.Caller is { } caller)
                    {
                        waitingById.Remove(item.Id);
                        caller.TrySetResult(VaultError.AuditUnavailable);
                    }
                    else
                    {
                        kept.Add(item);
                    }
                }

                waiting.InsertRange(0, kept);
                if (waiting.Count > 0)
                {
                    await Task.Delay(RetryDelay, clock);
                }
            }
        }
        finally
        {
            writing = false;
        }
    }

    private async Task<VaultError> WriteAsync(List<Waiting> items)
    {
        try
        {
            var current = await TailAsync();
            var now = Now();
            // Sealing a write's worth of events takes milliseconds of CPU: off this activation's turn,
            // so the vaults' Stage calls (which their writes wait for) are answered meanwhile.
            List<(string Id, AuditEntry Entry)> events = [.. items.Select(item => (item.Id, item.Entry))];
            var organizationId = OrganizationId;
            var (records, lines) = await Task.Run(() => AuditChain.Seal(events, now, organizationId, current.LastHash));
            var startNew = current.Segment is null || current.Length >= options.Value.SegmentBytes;
            var segment = startNew ? records[0].Id : current.Segment!;
            var expectedLength = startNew ? 0 : current.Length;
            try
            {
                await store.AppendAsync(OrganizationId, segment, startNew, expectedLength, lines, CancellationToken.None);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Landed or not? The tail says. Either way it is what the next write chains to.
                logger.LogWarning("Audit append for {OrganizationId} failed: {Error}; reading the tail back", OrganizationId, e.GetType().Name);
                tail = null;
                var settled = await TailAsync();
                return settled.LastEventId == records[^1].Id ? VaultError.None : VaultError.AuditUnavailable;
            }

            if (startNew)
            {
                activeRecords = [];
            }

            activeRecords.AddRange(records);
            foreach (var record in records)
            {
                chained.Add(record.Id, now);
            }

            chained.Forget(now);
            tail = new AuditTail(segment, expectedLength + lines.Length, current.Blocks + 1, records[^1].Hash, records[^1].Id);
            return VaultError.None;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            tail = null;
            logger.LogWarning("Audit trail of {OrganizationId} unavailable: {Error}", OrganizationId, e.GetType().Name);
            return VaultError.AuditUnavailable;
        }
    }

    // One load at a time: the grain is reentrant, and a second load finishing after a write would
    // reset the chained ids and put back a tail older than that write (whose next append would
    // then start a new segment, or fail its position check).
    private Task<AuditTail> TailAsync() =>
        tail is { } known ? Task.FromResult(known)
        : loadingTail is { IsCompleted: false } loading ? loading
        : loadingTail = LoadAndKeepTailAsync();

    private async Task<AuditTail> LoadAndKeepTailAsync() => tail = await LoadTailAsync();

    private async Task<AuditTail> LoadTailAsync()
    {
        var segments = await store.ListSegmentsAsync(OrganizationId, CancellationToken.None);
        if (segments.Count == 0)
        {
            activeRecords = [];
            var anchor = await store.ReadAnchorAsync(OrganizationId, CancellationToken.None);
            // Nothing retained: an event made before the anchor's was deleted with its segment,
            // anything later would be here.
            chained.Reset(anchor is null ? DateTime.MinValue : DateTime.MaxValue);
            return anchor is null ? AuditTail.Empty : AuditTail.Empty with { LastHash = anchor.LastDeletedHash, LastEventId = anchor.LastDeletedEventId };
        }

        var last = segments[^1];
        var text = await store.ReadSegmentAsync(OrganizationId, last, CancellationToken.None);
        var records = AuditChain.Parse(text);
        activeRecords = records;
        chained.Reset(records.Count > 0 ? records[0].Time : DateTime.MaxValue);
        foreach (var record in records)
        {
            chained.Add(record.Id, record.Time);
        }


        // A torn last line (never acknowledged) stays in the blob: start a new segment after it
        // rather than append behind half a record.
        var torn = text.Length > 0 && text[^1] != '\n';
        var length = torn ? long.MaxValue : System.Text.Encoding.UTF8.GetByteCount(text);
        return records.Count == 0
            ? AuditTail.Empty with { Segment = last, Length = length }
            : new AuditTail(last, length, records.Count, records[^1].Hash, records[^1].Id);
    }

    // The events not yet in the chain: new ones (ids just made) are, staged again ones may not be.
    // Memory answers for every id made after the segment being appended to began (once the tail is
    // loaded, which only a redelivery waits for: new events are taken even while storage is down,
    // as those of a batch written meanwhile must be); an older one (a vault sending again long
    // after) is looked for in storage, newest segment first, until the segments are older than the id.
    private async Task<List<StagedAuditEvent>> NotInChainAsync(IReadOnlyList<StagedAuditEvent> events, bool again)
    {
        if (again)
        {
            await TailAsync();
        }

        var fresh = new List<StagedAuditEvent>(events.Count);
        HashSet<string>? older = null;
        foreach (var staged in events)
        {
            if (waitingById.ContainsKey(staged.Id) || chained.Contains(staged.Id))
            {
                continue;
            }

            var made = ResourceId.TimeOf(staged.Id, ResourceId.Event) ?? throw new ArgumentException("A staged event needs an event id.", nameof(events));
            if (again && made - ClockSkew < chained.Since)
            {
                older ??= await OlderIdsAsync(made - ClockSkew);
                if (older.Contains(staged.Id))
                {
                    // Known from here on, so the vault's question whether it is written is answered.
                    chained.AddFound(staged.Id);
                    continue;
                }
            }

            fresh.Add(staged);
        }

        return fresh;
    }

    private async Task<HashSet<string>> OlderIdsAsync(DateTime from)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var segments = await store.ListSegmentsAsync(OrganizationId, CancellationToken.None);
        foreach (var segment in segments.Reverse().Where(s => s != tail?.Segment))
        {
            var records = AuditChain.Parse(await store.ReadSegmentAsync(OrganizationId, segment, CancellationToken.None));
            foreach (var record in records)
            {
                ids.Add(record.Id);
            }

            if (records.Count > 0 && records[^1].Time < from)
            {
                break;
            }
        }

        return ids;
    }

    // Before this activation takes a vault's first events, the vault is on the stored list, so a
    // successor that lost them knows whom to ask.
    private async Task<bool> ListStagingVaultAsync(string vaultId)
    {
        if (stagingListed.Contains(vaultId))
        {
            return true;
        }

        await stagingListGate.WaitAsync();
        try
        {
            if (stagingListed.Contains(vaultId))
            {
                return true;
            }

            await ReadStagingListAsync();
            return stagingListed.Contains(vaultId) || await WriteStagingListAsync([.. stagingListed, .. stagingInFlight.Keys, vaultId]);
        }
        finally
        {
            stagingListGate.Release();
        }
    }

    private async Task ReadStagingListAsync()
    {
        if (!stagingListRead)
        {
            var (vaults, etag) = await store.ReadStagingVaultsAsync(OrganizationId, CancellationToken.None);
            stagingListed = new HashSet<string>(vaults, StringComparer.Ordinal);
            recovering = new HashSet<string>(vaults, StringComparer.Ordinal);
            stagingListETag = etag;
            stagingListRead = true;
        }
    }

    // Guarded by the ETag: a second activation's list is merged, never overwritten.
    private async Task<bool> WriteStagingListAsync(HashSet<string> vaults)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            if (await store.TryWriteStagingVaultsAsync(OrganizationId, vaults, stagingListETag, CancellationToken.None) is { } etag)
            {
                stagingListETag = etag;
                stagingListed = vaults;
                return true;
            }

            var (stored, storedETag) = await store.ReadStagingVaultsAsync(OrganizationId, CancellationToken.None);
            vaults.UnionWith(stored);
            recovering.UnionWith(stored.Where(v => !stagingListed.Contains(v)));
            stagingListETag = storedETag;
        }

        return false;
    }

    // Asks the vaults an earlier activation may have lost events of to deliver them again, then
    // keeps on the list only the vaults whose events still wait here or are being taken.
    private async Task UpkeepAsync()
    {
        try
        {
            await stagingListGate.WaitAsync();
            try
            {
                await ReadStagingListAsync();
            }
            finally
            {
                stagingListGate.Release();
            }

            if (recovering.Count > 0)
            {
                var delivered = new List<string>();
                foreach (var chunk in recovering.ToList().Chunk(RecoveryParallelism))
                {
                    await Task.WhenAll(chunk.Select(async vaultId =>
                    {
                        try
                        {
                            if (await GrainFactory.ReferenceTo<IVaultGrain>(vaultId).DeliverAuditEvents() == VaultError.None)
                            {
                                delivered.Add(vaultId);
                            }
                        }
                        catch (Exception e) when (e is not OutOfMemoryException)
                        {
                            logger.LogWarning("Audit trail of {OrganizationId}: vault {VaultId} did not deliver its events yet: {Error}", OrganizationId, vaultId, e.GetType().Name);
                        }
                    }));
                }

                recovering.ExceptWith(delivered);
                if (delivered.Count > 0)
                {
                    logger.LogInformation("Audit trail of {OrganizationId}: {Count} vault(s) delivered what an earlier activation may have lost", OrganizationId, delivered.Count);
                }
            }

            await PruneStagingListAsync(keepActive: true);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning("Audit trail of {OrganizationId}: upkeep of its staging list failed: {Error}", OrganizationId, e.GetType().Name);
        }
    }

    private async Task PruneStagingListAsync(bool keepActive)
    {
        await stagingListGate.WaitAsync();
        try
        {
            if (!stagingListRead)
            {
                return;
            }

            var quietSince = Now() - ListedWhileQuiet;
            foreach (var (vaultId, staged) in lastStaged.ToList())
            {
                if (staged < quietSince)
                {
                    lastStaged.Remove(vaultId);
                }
            }

            var keep = new HashSet<string>(recovering, StringComparer.Ordinal);
            keep.UnionWith(stagingInFlight.Keys);
            keep.UnionWith(waiting.Select(w => w.VaultId).OfType<string>());
            var staying = keepActive ? DateTime.MinValue : Now() - ListedAfterDeactivation;
            keep.UnionWith(lastStaged.Where(s => s.Value > staying && stagingListed.Contains(s.Key)).Select(s => s.Key));

            if (!keep.SetEquals(stagingListed))
            {
                await WriteStagingListAsync(keep);
            }
        }
        finally
        {
            stagingListGate.Release();
        }
    }

    private DateTime Now() => Timestamps.TruncateToMilliseconds(clock.GetUtcNow().UtcDateTime);

    /// <summary>An event waiting for the next write: with the caller that waits for it (appends, and staging while failing), or staged by a vault.</summary>
    private sealed class Waiting(string id, AuditEntry entry, TaskCompletionSource<VaultError>? caller, DateTime since, string? vaultId = null)
    {
        /// <summary>The vault that staged it, if one did.</summary>
        public string? VaultId { get; } = vaultId;

        public string Id { get; } = id;

        public AuditEntry Entry { get; } = entry;

        public TaskCompletionSource<VaultError>? Caller { get; } = caller;

        public DateTime Since { get; } = since;

        /// <summary>Completed once it is written (or its write failed), for those who asked.</summary>
        public TaskCompletionSource<VaultError>? Written { get; set; }

        /// <summary>Someone waits for it to be written now.</summary>
        public bool Flush { get; set; }
    }

    // The segment in memory first (it is the newest), then the older ones from storage.
    private async IAsyncEnumerable<AuditRecord> NewestFirstAsync()
    {
        var current = await TailAsync();
        var inMemory = activeRecords.ToArray();
        for (var i = inMemory.Length - 1; i >= 0; i--)
        {
            yield return inMemory[i];
        }

        var segments = await store.ListSegmentsAsync(OrganizationId, CancellationToken.None);
        foreach (var segment in segments.Reverse().Where(s => s != current.Segment))
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
