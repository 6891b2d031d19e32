using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using VaultGrains.Domain;
using VaultGrains.Grains.Audit;

namespace VaultGrains.Grains.Vaults;

/// <summary>What the vault grain does around each batch's write: its rules, not the log's.</summary>
internal interface IVaultLogHooks
{
    /// <summary>
    /// Gives a batch's events to the organization's trail before the batch is written (its record
    /// holds them too); with <paramref name="untilWritten"/>, answers only once the trail wrote them.
    /// False: the trail refused (it is failing), and the batch fails with <see cref="VaultError.AuditUnavailable"/>.
    /// With <paramref name="writtenMeanwhile"/>, the batch is being written without waiting for this
    /// answer (<see cref="IAuditTrailGrain.Stage"/>); false then only makes the next batch wait for its own.
    /// </summary>
    Task<bool> StageAsync(IReadOnlyList<StagedAuditEvent> events, VaultModel snapshot, bool untilWritten, bool again = false, bool writtenMeanwhile = false);

    /// <summary>Completes once the trail has written the events named (the last of each staged batch): <see cref="VaultError.None"/>, else they must be staged again.</summary>
    Task<VaultError> AwaitWrittenAsync(IReadOnlyList<string> lastEventIds, VaultModel snapshot, bool now);

    /// <summary>Seals the state about to be written (<see cref="VaultState.IntegritySeal"/>); runs for every batch that leaves the vault existing.</summary>
    void Seal(VaultModel snapshot);

    /// <summary>Runs after the write landed and before the batch is acknowledged (reports, notifications).</summary>
    Task AfterWriteAsync(VaultModel committed);

    /// <summary>A write failed or may have landed: the log is stale and refuses everything from now on.</summary>
    void WriteFailed(IReadOnlyList<AuditEntry> events, VaultError failure);
}

/// <summary>Where this activation's next record goes, and what it knows of the log behind it.</summary>
internal sealed record VaultLogCursor(
    string? Log,
    long Position,
    long NextSequence,
    long Generation,
    string? HeadETag,
    IReadOnlyList<string> Superseded,
    long BytesSinceCheckpoint,
    int RecordsSinceCheckpoint,
    string? LegacyETag)
{
    /// <summary>Audit events the log holds that are not known to be in the trail, oldest first.</summary>
    public IReadOnlyList<UnwrittenAudit> UnwrittenAudit { get; init; } = [];

    public static VaultLogCursor Unwritten(string? legacyETag) => new(null, 0, 1, 0, null, [], 0, 0, legacyETag);
}

/// <summary>One batch's audit events in the log, not yet known to be in the trail; <see cref="Sequence"/> is the record that holds them.</summary>
internal sealed record UnwrittenAudit(long Sequence, IReadOnlyList<StagedAuditEvent> Events);

/// <summary>
/// A vault's write path: group commit on a log. Changes are applied to <see cref="Tentative"/> (the
/// confirmed state plus changes waiting for the next write) and joined to the next batch with
/// <see cref="CommitAsync"/>; each write is one record of only its batch's changes, appended at the exact
/// position this activation read (so a second activation, or a retry of an append that landed,
/// fails instead of writing beside it), and acknowledged only once the append succeeded. Then
/// <see cref="Confirmed"/> moves. A write of unknown outcome makes the log <see cref="IsStale"/>:
/// it refuses everything, and the next activation reads what storage holds.
/// Compaction writes a checkpoint of the whole vault into a new log and seals the old one with a
/// record naming it, under the same append-position guard; the seal is the commit point, so a
/// compaction interrupted at any step leaves the old log (and everything acknowledged) readable.
/// <para>
/// Audit events are written in the batch's own record, so a change and its events become durable
/// in the same write. The organization's trail takes them before the write (it refuses while it is
/// failing, which fails the batch; a busy vault whose previous batch the trail took moments ago
/// writes while the trail answers, see <see cref="TrailAnswerFresh"/>) and copies them into its
/// hash chain within a second; until it
/// confirms, they are <see cref="UnwrittenAudit"/>, staged again after a trail failure and after
/// activation (the trail skips copies it holds). Each record notes how far the trail has confirmed;
/// a checkpoint carries the events still unconfirmed. A vault is deleted only after its trail
/// wrote everything, the deletion's own event included.
/// </para>
/// </summary>
internal sealed class VaultLog(string vaultId, IVaultLogStore store, VaultLogCodec codec, VaultLogOptions options, IVaultLogHooks hooks, ILogger logger)
{
    /// <summary>
    /// How recently the trail must have taken a busy vault's previous batch (counted from when it was
    /// asked) for the next batch to be written while the trail answers for it, instead of after. The
    /// answer costs a round trip per write cycle (a tenth of a hot vault's cycle under load). The trail
    /// keeps the events of a batch written this way even while it is failing, and keeps
    /// every vault that staged this recently on its stored list.
    /// </summary>
    internal static readonly TimeSpan TrailAnswerFresh = TimeSpan.FromMilliseconds(500);

    private TaskCompletionSource<VaultError>? nextWrite;
    private List<AuditEntry> pendingAudit = [];
    private Task<VaultError> writeInFlight = Task.FromResult(VaultError.None);
    private bool writing;
    // The latest staging of this log's batches, and when it was asked for: stagings go one at a time.
    private Task<bool> lastStaging = Task.FromResult(false);
    private long lastStagingAsked;
    private VaultLogCursor cursor = VaultLogCursor.Unwritten(null);
    private readonly List<UnwrittenAudit> unwrittenAudit = [];
    private Task? delivery;
    private TaskCompletionSource askTrail = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool askTrailAtOnce;
    private bool stopped;
    private int unwrittenEvents;

    // Whether the trail wrote a vault's events only moves the watermark in the next record, so it
    // is asked for all batches at once every few seconds, not per batch (a call per batch cost
    // spread creates about 9 % of their CPU). A busy vault asks as soon as it owes this many events,
    // since every checkpoint carries what is owed (a hot vault owed 10 s of events, tens of
    // thousands, and its checkpoints grew to megabytes). Someone who waits for it (the trail's
    // recovery, a deletion) has the trail write at once.
    private static readonly TimeSpan AskTrailEvery = TimeSpan.FromSeconds(10);
    private const int AskTrailAfterEvents = 256;

    /// <summary>What storage holds: served to readers.</summary>
    public VaultModel Confirmed { get; private set; } = VaultModel.From(new VaultState());

    /// <summary>Confirmed plus the changes waiting for the next write: validated against, changed by the grain.</summary>
    public VaultModel Tentative { get; private set; } = VaultModel.From(new VaultState());

    /// <summary>A write failed with an unknown outcome: this activation no longer knows what storage holds.</summary>
    public bool IsStale { get; private set; }

    /// <summary>Where the next record goes (for tests and diagnostics).</summary>
    public VaultLogCursor Cursor => cursor;

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var (state, read) = await ReadAsync(vaultId, store, codec, cancellationToken);
        Confirmed = VaultModel.From(state);
        Tentative = Confirmed.Clone();
        cursor = read;
        unwrittenAudit.AddRange(read.UnwrittenAudit);
        unwrittenEvents = unwrittenAudit.Sum(u => u.Events.Count);
        if (unwrittenAudit.Count > 0)
        {
            DeliverAuditInBackground(stageFirst: true);
        }
    }

    /// <summary>
    /// The activation is going away: its audit delivery stops. What it still owes stays in the log
    /// (records and checkpoints carry it), and the next activation delivers it.
    /// </summary>
    public void Stop()
    {
        stopped = true;
        askTrail.TrySetResult();
    }

    /// <summary>Waits until every audit event this log holds is confirmed in the trail (at most <paramref name="timeout"/>).</summary>
    public async Task<VaultError> WhenAuditWrittenAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (unwrittenAudit.Count > 0)
        {
            DeliverAuditInBackground(stageFirst: false);
            AskTrail(atOnce: true);
            if (IsStale || stopped || DateTime.UtcNow >= deadline)
            {
                return VaultError.AuditUnavailable;
            }

            await Task.WhenAny(delivery!, Task.Delay(deadline - DateTime.UtcNow));
        }

        return VaultError.None;
    }

    /// <summary>
    /// Reads a vault from its head along the chain of sealed logs; without a head, from the blob an
    /// earlier version stored. Throws <see cref="VaultLogCorruptException"/> rather than skip a record.
    /// </summary>
    public static async Task<(VaultState State, VaultLogCursor Cursor)> ReadAsync(string vaultId, IVaultLogStore store, VaultLogCodec codec, CancellationToken cancellationToken)
    {
        var head = await store.ReadHeadAsync(vaultId, cancellationToken);
        if (head is null)
        {
            var legacy = await store.ReadLegacyAsync(vaultId, cancellationToken);
            return legacy is null
                ? (new VaultState(), VaultLogCursor.Unwritten(null))
                : (codec.DecodeLegacy(legacy.Bytes), VaultLogCursor.Unwritten(legacy.ETag));
        }

        var log = head.Log;
        var superseded = new List<string>();
        long? sealedAt = null;
        while (true)
        {
            var bytes = await store.ReadLogAsync(vaultId, log, cancellationToken);
            var contents = VaultLogFormat.Read(vaultId, bytes);
            if (contents.Frames.Count == 0)
            {
                throw new VaultLogCorruptException($"Vault {vaultId}'s log {log} holds no checkpoint.");
            }

            var checkpointFrame = contents.Frames[0];
            if (sealedAt is { } seal && checkpointFrame.Sequence != seal)
            {
                throw new VaultLogCorruptException($"Vault {vaultId}'s log {log} starts at {checkpointFrame.Sequence}, not at the seal's {seal}.");
            }

            var checkpoint = codec.Decode<VaultCheckpointRecord>(checkpointFrame);
            var model = VaultModel.From(checkpoint.State);
            var audit = (checkpoint.UnwrittenAudit ?? []).Select(events => new UnwrittenAudit(checkpointFrame.Sequence, events)).ToList();
            var auditWrittenThrough = 0L;
            string? next = null;
            foreach (var frame in contents.Frames.Skip(1))
            {
                switch (frame.Kind)
                {
                    case VaultLogRecordKind.Batch:
                        var batch = codec.Decode<VaultBatchRecord>(frame);
                        Apply(model, batch);
                        auditWrittenThrough = Math.Max(auditWrittenThrough, batch.AuditWrittenThrough);
                        if (batch.AuditEvents is { Count: > 0 } events)
                        {
                            audit.Add(new UnwrittenAudit(frame.Sequence, events));
                        }

                        break;
                    case VaultLogRecordKind.Seal:
                        next = codec.Decode<VaultSealRecord>(frame).NextLog;
                        break;
                    default:
                        throw new VaultLogCorruptException($"Vault {vaultId}'s log holds a record of unknown kind {(int)frame.Kind} at {frame.Sequence}.");
                }
            }

            if (next is not null)
            {
                superseded.Add(log);
                sealedAt = contents.Frames[^1].Sequence;
                log = next;
                continue;
            }

            model.TakeTouched();
            var last = contents.Frames[^1];
            return (model.State, new VaultLogCursor(
                log, bytes.Length, last.Sequence + 1, GenerationOf(log), head.ETag, superseded,
                bytes.Length - checkpointFrame.Length, contents.Frames.Count - 1, null)
            {
                UnwrittenAudit = model.Exists ? audit.Where(a => a.Sequence > auditWrittenThrough).ToList() : [],
            });
        }
    }

    /// <summary>Joins the change just applied to <see cref="Tentative"/> to the next write, which completes the returned task.</summary>
    public Task<VaultError> CommitAsync(AuditEntry? audit = null)
    {
        // Every caller re-checks IsStale after its last await; if one did not, no write loop would
        // ever complete its batch, so it is answered at once instead of left hanging.
        if (IsStale)
        {
            return Task.FromResult(VaultError.Unavailable);
        }

        if (audit is not null)
        {
            pendingAudit.Add(audit);
        }

        nextWrite ??= new TaskCompletionSource<VaultError>(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = nextWrite.Task;
        if (!writing)
        {
            writing = true;
            _ = WriteLoopAsync();
        }

        return done;
    }

    /// <summary>The write that will hold every change made so far, if one is still to land.</summary>
    public Task<VaultError>? PendingWrite() =>
        nextWrite?.Task ?? (writing && !writeInFlight.IsCompleted ? writeInFlight : null);

    /// <summary>Waits until every change made so far has been written (or failed); the first failure, if any.</summary>
    public async Task<VaultError> WhenSettledAsync()
    {
        while (PendingWrite() is { } pending)
        {
            if (await pending is var error && error != VaultError.None)
            {
                return error;
            }
        }

        return IsStale ? VaultError.Unavailable : VaultError.None;
    }

    // One write per batch: everything applied to Tentative while the previous write was in flight.
    // A batch's events go to the audit trail first (it answers at once while it is healthy, and
    // refuses while it is failing), then its record to the log, so no change is stored that the
    // trail refused. That answer costs a round trip per batch: a busy vault (one whose write loop
    // found the next batch waiting) whose previous batch the trail took moments ago writes while the
    // trail answers. When the trail has just begun to fail, that lets one more batch through, whose
    // events are durable in its record and which the trail keeps; the batch after it waits again.
    private async Task WriteLoopAsync()
    {
        try
        {
            var busy = false;
            while (Take() is { } batch)
            {
                // Until the trail has taken the events, a failure is the trail's.
                var failure = VaultError.AuditUnavailable;
                try
                {
                    if (!await TakenByTrailAsync(batch, busy))
                    {
                        throw new AuditUnavailableException();
                    }

                    failure = VaultError.Unavailable;
                    if (batch.Snapshot.Exists)
                    {
                        hooks.Seal(batch.Snapshot);
                    }

                    await WriteAsync(Confirmed, batch.Snapshot, batch.Touched, batch.Staged);
                }
                catch (Exception e)
                {
                    // The write may or may not have landed (a conflict means another activation
                    // wrote first, or an earlier try of this one did). Fail this batch and every
                    // change made behind it (validated against this one), and refuse everything:
                    // the next activation reads the truth.
                    logger.LogWarning("Vault {VaultId} write failed, deactivating: {Error}", vaultId, e.GetType().Name);
                    FailEverything(batch, failure);
                    return;
                }

                Confirmed = batch.Snapshot;
                await hooks.AfterWriteAsync(Confirmed);
                batch.Done.TrySetResult(VaultError.None);
                busy = true;
            }
        }
        finally
        {
            writing = false;
        }
    }

    // Sends the batch's events to the trail once its previous staging is answered (one vault's
    // events reach the trail in the order they were made), and answers whether the batch may be
    // written: once the trail took them, or at once for a busy vault whose previous batch the trail
    // took, asked within TrailAnswerFresh. A deletion is staged its own way.
    private async Task<bool> TakenByTrailAsync(PendingBatch batch, bool busy)
    {
        if (!batch.Snapshot.Exists)
        {
            return await StageBeforeEraseAsync(batch);
        }

        if (batch.Staged.Count == 0)
        {
            return true;
        }

        var meanwhile = await lastStaging && busy && Stopwatch.GetElapsedTime(lastStagingAsked) < TrailAnswerFresh;
        lastStagingAsked = Stopwatch.GetTimestamp();
        var staging = lastStaging = batch.Staging = StageAsync(batch.Staged, batch.Snapshot, meanwhile);
        return meanwhile || await staging;
    }

    // Never throws: a staging that failed is one the trail did not take (the batch's events, if
    // written, are owed to it and delivered again).
    private async Task<bool> StageAsync(List<StagedAuditEvent> staged, VaultModel snapshot, bool writtenMeanwhile)
    {
        try
        {
            return await hooks.StageAsync(staged, snapshot, untilWritten: false, writtenMeanwhile: writtenMeanwhile);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning("Vault {VaultId}: the trail did not answer for a batch's events: {Error}", vaultId, e.GetType().Name);
            return false;
        }
    }

    private void FailEverything(PendingBatch batch, VaultError failure)
    {
        IsStale = true;
        Tentative = Confirmed.Clone();
        batch.Done.TrySetResult(failure);
        nextWrite?.TrySetResult(failure);
        nextWrite = null;
        pendingAudit = [];
        if (batch.Staging is { IsCompleted: false } staging)
        {
            _ = ReportFailedWhenAnsweredAsync(batch.Events, staging, failure);
        }
        else
        {
            hooks.WriteFailed(batch.Events, failure);
        }
    }

    // A batch written while the trail answered for it failed: its error events follow its events.
    private async Task ReportFailedWhenAnsweredAsync(List<AuditEntry> events, Task<bool> staging, VaultError failure)
    {
        await staging;
        hooks.WriteFailed(events, failure);
    }

    /// <summary>Takes everything applied since the last batch as the next batch.</summary>
    private PendingBatch? Take()
    {
        if (nextWrite is not { } done)
        {
            return null;
        }

        nextWrite = null;
        writeInFlight = done.Task;
        var events = pendingAudit;
        pendingAudit = [];
        var touched = Tentative.TakeTouched();
        var snapshot = Tentative.Clone();
        var staged = events.Select(e => new StagedAuditEvent(ResourceId.New(ResourceId.Event), e)).ToList();
        return new PendingBatch(done, events, staged, touched, snapshot);
    }

    // A deleted vault's log is gone, and with it the events the trail has not confirmed: so every
    // earlier event must be confirmed first, and the deletion's own events are written before it.
    private async Task<bool> StageBeforeEraseAsync(PendingBatch batch)
    {
        await lastStaging;
        try
        {
            for (var attempt = 0; unwrittenAudit.Count > 0; attempt++)
            {
                var waitingFor = unwrittenAudit.ToList();
                if (await hooks.AwaitWrittenAsync(LastEventIds(waitingFor), Confirmed, now: true) == VaultError.None)
                {
                    Confirm(waitingFor);
                }
                else if (attempt == 2 || !await StageAgainAsync(waitingFor))
                {
                    return false;
                }
            }

            return batch.Staged.Count == 0 || await hooks.StageAsync(batch.Staged, Confirmed, untilWritten: true);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning("Vault {VaultId}: the trail did not confirm its events before a deletion: {Error}", vaultId, e.GetType().Name);
            return false;
        }
    }

    private async Task<bool> StageAgainAsync(IEnumerable<UnwrittenAudit> batches)
    {
        foreach (var batch in batches)
        {
            if (!await hooks.StageAsync(batch.Events, Confirmed, untilWritten: false, again: true))
            {
                return false;
            }
        }

        return true;
    }

    // A batch's events are staged in one call and written in order, so its last one stands for all.
    private static List<string> LastEventIds(IEnumerable<UnwrittenAudit> batches) => [.. batches.Select(u => u.Events[^1].Id)];

    private void Confirm(IReadOnlyCollection<UnwrittenAudit> written)
    {
        foreach (var batch in written)
        {
            if (unwrittenAudit.Remove(batch))
            {
                unwrittenEvents -= batch.Events.Count;
            }
        }
    }

    // Everything in records up to this sequence is in the trail.
    private long AuditWrittenThrough() =>
        unwrittenAudit.Count == 0 ? cursor.NextSequence - 1 : unwrittenAudit.Min(u => u.Sequence) - 1;

    private void AskTrail(bool atOnce)
    {
        askTrailAtOnce |= atOnce;
        askTrail.TrySetResult();
    }

    private void DeliverAuditInBackground(bool stageFirst)
    {
        if (!stopped && (delivery is null || delivery.IsCompleted))
        {
            delivery = DeliverAuditAsync(stageFirst);
        }
    }

    // Asks the trail whether it wrote what the log holds; when it did not (it failed a write, or
    // an activation of it was lost with what it had taken), stages the events again, with backoff.
    private async Task DeliverAuditAsync(bool stageFirst)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        while (unwrittenAudit.Count > 0 && !IsStale && !stopped)
        {
            var waitingFor = unwrittenAudit.ToList();
            try
            {
                if (stageFirst)
                {
                    stageFirst = false;
                    await StageAgainAsync(waitingFor);
                }

                await Task.WhenAny(Task.Delay(AskTrailEvery), askTrail.Task);
                if (stopped)
                {
                    return;
                }

                var now = askTrailAtOnce;
                askTrailAtOnce = false;
                if (askTrail.Task.IsCompleted)
                {
                    askTrail = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                waitingFor = unwrittenAudit.ToList();
                if (await hooks.AwaitWrittenAsync(LastEventIds(waitingFor), Confirmed, now) == VaultError.None)
                {
                    Confirm(waitingFor);
                    delay = TimeSpan.FromMilliseconds(500);
                    continue;
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogWarning("Vault {VaultId}: its trail did not confirm {Count} batch(es) of events yet: {Error}", vaultId, waitingFor.Count, e.GetType().Name);
            }

            await Task.Delay(delay);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            stageFirst = true;
        }
    }

    private sealed record PendingBatch(
        TaskCompletionSource<VaultError> Done,
        List<AuditEntry> Events,
        List<StagedAuditEvent> Staged,
        IReadOnlySet<string> Touched,
        VaultModel Snapshot)
    {
        /// <summary>The trail's answer for the batch's events, once they were sent.</summary>
        public Task<bool>? Staging { get; set; }
    }

    private async Task WriteAsync(VaultModel before, VaultModel after, IReadOnlySet<string> touched, List<StagedAuditEvent> staged)
    {
        if (!after.Exists)
        {
            await EraseAsync();
            return;
        }

        var record = new VaultBatchRecord
        {
            IntegritySeal = after.State.IntegritySeal,
            AuditEvents = staged.Count > 0 ? staged : null,
            AuditWrittenThrough = AuditWrittenThrough(),
        };
        if (!before.Exists || !VaultHeader.Of(before.State).SameAs(after.State))
        {
            record.Header = VaultHeader.Of(after.State);
        }

        var shreds = false;
        foreach (var id in touched.Order(StringComparer.Ordinal))
        {
            var old = before.Find(id);
            if (after.Find(id) is { } secret)
            {
                if (!ReferenceEquals(old, secret))
                {
                    record.Upserted.Add(secret);
                    // A new value must not leave the old ciphertext readable in storage.
                    shreds |= old is not null && !ReferenceEquals(old.Value, secret.Value);
                }
            }
            else if (old is not null)
            {
                record.Removed.Add(id);
                shreds = true;
            }
        }

        var frame = VaultLogFormat.Encode(vaultId, VaultLogRecordKind.Batch, cursor.NextSequence, codec.Encode(record));
        if (cursor.Log is null || shreds || cursor.Superseded.Count > 0 || frame.Length > VaultLogFormat.MaxAppendBytes
            || cursor.BytesSinceCheckpoint + frame.Length > options.CompactAfterBytes || cursor.RecordsSinceCheckpoint + 1 > options.CompactAfterRecords)
        {
            await CompactAsync(after, staged);
            return;
        }

        await store.AppendAsync(vaultId, cursor.Log, cursor.Position, frame, CancellationToken.None);
        Unconfirmed(cursor.NextSequence, staged);
        cursor = cursor with
        {
            Position = cursor.Position + frame.Length,
            NextSequence = cursor.NextSequence + 1,
            BytesSinceCheckpoint = cursor.BytesSinceCheckpoint + frame.Length,
            RecordsSinceCheckpoint = cursor.RecordsSinceCheckpoint + 1,
        };
    }

    /// <summary>
    /// Writes <paramref name="state"/> as the checkpoint of a new log, then makes it current: by
    /// sealing the old log at this activation's position (the commit point, fenced like any
    /// append), or for a vault without a log by creating its head. Moving the head and deleting
    /// the old logs come after and may fail: readers follow the seals.
    /// </summary>
    private async Task CompactAsync(VaultModel state, List<StagedAuditEvent> staged)
    {
        var sequence = cursor.NextSequence;
        var generation = cursor.Generation + 1;
        var log = $"{generation:D10}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        List<List<StagedAuditEvent>> unwritten = [.. unwrittenAudit.Select(u => u.Events.ToList())];
        if (staged.Count > 0)
        {
            unwritten.Add(staged);
        }

        var checkpoint = new VaultCheckpointRecord { State = state.State, MigratedFromETag = cursor.LegacyETag, UnwrittenAudit = unwritten.Count > 0 ? unwritten : null };
        var checkpointFrame = VaultLogFormat.Encode(vaultId, VaultLogRecordKind.Checkpoint, sequence, codec.Encode(checkpoint));
        await store.WriteCheckpointAsync(vaultId, log, checkpointFrame, CancellationToken.None);

        string? headETag;
        var superseded = cursor.Superseded.ToList();
        if (cursor.Log is null)
        {
            headETag = await store.CreateHeadAsync(vaultId, log, CancellationToken.None);
            if (cursor.LegacyETag is { } legacy)
            {
                await TidyAsync("the earlier version's blob", () => store.DeleteLegacyAsync(vaultId, legacy, CancellationToken.None));
            }
        }
        else
        {
            var seal = VaultLogFormat.Encode(vaultId, VaultLogRecordKind.Seal, sequence, codec.Encode(new VaultSealRecord { NextLog = log }));
            await store.AppendAsync(vaultId, cursor.Log, cursor.Position, seal, CancellationToken.None);
            superseded.Add(cursor.Log);
            headETag = cursor.HeadETag ?? (await store.ReadHeadAsync(vaultId, CancellationToken.None))?.ETag;
            var moved = headETag is not null && await TidyAsync("the head", async () => headETag = await store.ReplaceHeadAsync(vaultId, log, headETag, CancellationToken.None));
            if (moved)
            {
                foreach (var old in superseded)
                {
                    await TidyAsync("a replaced log", () => store.DeleteLogAsync(vaultId, old, CancellationToken.None));
                }

                superseded.Clear();
            }
            else
            {
                headETag = null;
            }
        }

        cursor = new VaultLogCursor(log, checkpointFrame.Length, sequence + 1, generation, headETag, superseded, 0, 0, null);
        Unconfirmed(sequence, staged);
    }

    private void Unconfirmed(long sequence, List<StagedAuditEvent> staged)
    {
        if (staged.Count > 0)
        {
            unwrittenAudit.Add(new UnwrittenAudit(sequence, staged));
            unwrittenEvents += staged.Count;
            if (unwrittenEvents >= AskTrailAfterEvents)
            {
                AskTrail(atOnce: false);
            }

            DeliverAuditInBackground(stageFirst: false);
        }
    }

    /// <summary>Deletes the vault: an erase record at this activation's position (the commit point), then every blob it had.</summary>
    private async Task EraseAsync()
    {
        if (cursor.Log is null)
        {
            if (cursor.LegacyETag is { } legacy)
            {
                await store.DeleteLegacyAsync(vaultId, legacy, CancellationToken.None);
            }

            return;
        }

        var erase = VaultLogFormat.Encode(vaultId, VaultLogRecordKind.Batch, cursor.NextSequence, codec.Encode(new VaultBatchRecord { Erased = true }));
        await store.AppendAsync(vaultId, cursor.Log, cursor.Position, erase, CancellationToken.None);
        cursor = cursor with { Position = cursor.Position + erase.Length, NextSequence = cursor.NextSequence + 1 };
        if (await TidyAsync("the head", () => store.DeleteHeadAsync(vaultId, CancellationToken.None)))
        {
            foreach (var log in await store.ListLogsAsync(vaultId, CancellationToken.None))
            {
                await TidyAsync("a log", () => store.DeleteLogAsync(vaultId, log, CancellationToken.None));
            }
        }
    }

    private async Task<bool> TidyAsync(string what, Func<Task> step)
    {
        try
        {
            await step();
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning("Vault {VaultId} log: could not tidy {What} after a commit ({Error}); readers follow the seals", vaultId, what, e.GetType().Name);
            return false;
        }
    }

    private static void Apply(VaultModel model, VaultBatchRecord batch)
    {
        if (batch.Erased)
        {
            model.Erase();
            return;
        }

        batch.Header?.ApplyTo(model.State);
        model.State.IntegritySeal = batch.IntegritySeal;
        foreach (var id in batch.Removed)
        {
            if (model.Find(id) is not null)
            {
                model.Remove(id);
            }
        }

        foreach (var secret in batch.Upserted)
        {
            if (model.Find(secret.Id) is null)
            {
                model.Add(secret);
            }
            else
            {
                model.Replace(secret);
            }
        }
    }

    private static long GenerationOf(string log) =>
        log.IndexOf('-') is > 0 and var dash && long.TryParse(log.AsSpan(0, dash), out var generation) ? generation : 0;
}
