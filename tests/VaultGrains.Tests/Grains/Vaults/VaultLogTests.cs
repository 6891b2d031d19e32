using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Serialization;
using VaultGrains.Grains;
using VaultGrains.Grains.Audit;
using VaultGrains.Grains.Crypto;
using VaultGrains.Grains.Vaults;

namespace VaultGrains.Tests.Grains.Vaults;

/// <summary>
/// The vault's write path without Azurite: group commit, fencing, recovery and compaction of the
/// vault log against an in-memory store that loses answers, retries appends that landed, tears
/// records and fails at each step of a compaction.
/// </summary>
public sealed class VaultLogTests
{
    private const string VaultId = "vlt_unit";
    internal static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(builder => builder.AddAssembly(typeof(VaultLog).Assembly))
        .BuildServiceProvider()
        .GetRequiredService<Serializer>();

    private readonly InMemoryVaultLogStore store = new();

    [Fact]
    public Task A_batch_is_one_record_of_its_changes_not_the_whole_vault() => OnVaultScheduler(async () =>
    {
        var log = await OpenAsync();
        await CreateVaultAsync(log);
        for (var i = 0; i < 300; i++)
        {
            log.Tentative.Add(Secret($"BULK_{i:D3}", valueBytes: 200));
        }

        Assert.Equal(VaultError.None, await log.CommitAsync());
        var before = store.LogBytes(VaultId, store.HeadOf(VaultId)!).Length;

        Assert.Equal(VaultError.None, await AddAsync(log, "ONE_MORE"));

        var grown = store.LogBytes(VaultId, store.HeadOf(VaultId)!).Length - before;
        Assert.InRange(grown, 100, 1024);
        var reread = await OpenAsync();
        Assert.Equal(301, reread.Confirmed.SecretCount);
        Assert.NotNull(reread.Confirmed.Find(log.Confirmed.State.Secrets[^1].Id));
    });

    [Fact]
    public Task Each_batch_carries_the_seal_of_the_whole_state_through_appends_and_compaction() => OnVaultScheduler(async () =>
    {
        var hooks = new Hooks();
        var log = await OpenAsync(new VaultLogOptions { CompactAfterRecords = 3 }, hooks);
        await CreateVaultAsync(log);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(VaultError.None, await AddAsync(log, $"SEALED_{i}"));
            var reread = await OpenAsync();
            Assert.Equal(BitConverter.GetBytes(hooks.Sealed), reread.Confirmed.State.IntegritySeal);
        }
    });

    [Fact]
    public Task Two_activations_never_both_acknowledge_conflicting_writes() => OnVaultScheduler(async () =>
    {
        await CreateVaultAsync(await OpenAsync());
        var first = await OpenAsync();
        var second = await OpenAsync();
        var third = await OpenAsync();

        Assert.Equal(VaultError.None, await AddAsync(first, "SAME_KEY", "first"));
        Assert.Equal(VaultError.Unavailable, await AddAsync(second, "SAME_KEY", "second"));
        Assert.True(second.IsStale);

        // Compaction (a delete shreds) moves the first to a new log; an activation that read the
        // old one is fenced by the seal.
        first.Tentative.Remove(first.Tentative.State.Secrets.Single().Id);
        Assert.Equal(VaultError.None, await first.CommitAsync());
        Assert.Equal(VaultError.None, await AddAsync(first, "AFTER_COMPACTION", "first"));
        Assert.Equal(VaultError.Unavailable, await AddAsync(third, "STALE_WRITER", "third"));

        var stored = await OpenAsync();
        Assert.Equal(["AFTER_COMPACTION"], EnvKeys(stored));
    });

    [Theory]
    [InlineData(VaultLogFault.LoseAnswer)]
    [InlineData(VaultLogFault.RetryAfterLanding)]
    public Task An_append_that_landed_without_an_answer_is_neither_lost_nor_doubled(VaultLogFault fault) => OnVaultScheduler(async () =>
    {
        var log = await OpenAsync();
        await CreateVaultAsync(log);
        Assert.Equal(VaultError.None, await AddAsync(log, "BEFORE"));
        store.Inject(VaultLogStep.Append, fault);

        Assert.Equal(VaultError.Unavailable, await AddAsync(log, "LANDED"));
        Assert.True(log.IsStale);
        Assert.Equal(VaultError.Unavailable, await AddAsync(log, "REFUSED"));

        var next = await OpenAsync();
        Assert.Equal(["BEFORE", "LANDED"], EnvKeys(next));
        Assert.Equal(VaultError.None, await AddAsync(next, "AFTER"));
        var contents = VaultLogFormat.Read(VaultId, store.LogBytes(VaultId, store.HeadOf(VaultId)!));
        Assert.Equal(4, contents.Frames.Count);
        Assert.Equal(["AFTER", "BEFORE", "LANDED"], EnvKeys(await OpenAsync()));
    });

    [Fact]
    public Task A_torn_last_record_was_never_acknowledged_and_is_ignored() => OnVaultScheduler(async () =>
    {
        var log = await OpenAsync();
        await CreateVaultAsync(log);
        Assert.Equal(VaultError.None, await AddAsync(log, "KEPT"));
        store.Inject(VaultLogStep.Append, VaultLogFault.Torn);

        Assert.Equal(VaultError.Unavailable, await AddAsync(log, "TORN"));

        Assert.True(VaultLogFormat.Read(VaultId, store.LogBytes(VaultId, store.HeadOf(VaultId)!)).TornTail);
        var next = await OpenAsync();
        Assert.Equal(["KEPT"], EnvKeys(next));

        // The next record follows the torn bytes with the torn record's sequence number.
        Assert.Equal(VaultError.None, await AddAsync(next, "AFTER_TEAR"));
        Assert.Equal(VaultError.None, await AddAsync(next, "LATER"));
        Assert.Equal(["AFTER_TEAR", "KEPT", "LATER"], EnvKeys(await OpenAsync()));
    });

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public Task A_damaged_record_fails_the_read_loudly_instead_of_dropping_data(int damagedFrame) => OnVaultScheduler(async () =>
    {
        var log = await OpenAsync();
        await CreateVaultAsync(log);
        foreach (var key in new[] { "FIRST", "SECOND", "THIRD" })
        {
            Assert.Equal(VaultError.None, await AddAsync(log, key));
        }

        var name = store.HeadOf(VaultId)!;
        var frame = VaultLogFormat.Read(VaultId, store.LogBytes(VaultId, name)).Frames[damagedFrame];
        store.Damage(VaultId, name, bytes => bytes[(int)(frame.Offset + frame.Length - VaultLogFormat.CheckBytes - 3)] ^= 0x40);

        var reopened = new VaultLog(VaultId, store, new VaultLogCodec(Serializer), new VaultLogOptions(), new Hooks(), NullLogger.Instance);
        await Assert.ThrowsAsync<VaultLogCorruptException>(() => reopened.LoadAsync(CancellationToken.None));
    });

    public static TheoryData<VaultLogStep, VaultLogFault, bool> CompactionFaults => new()
    {
        // Before the commit point: the batch fails and the old log is whole.
        { VaultLogStep.WriteCheckpoint, VaultLogFault.FailBefore, false },
        { VaultLogStep.WriteCheckpoint, VaultLogFault.Torn, false },
        { VaultLogStep.Append, VaultLogFault.FailBefore, false },
        { VaultLogStep.Append, VaultLogFault.Torn, false },
        // The seal landed, its answer did not: not acknowledged, yet stored.
        { VaultLogStep.Append, VaultLogFault.LoseAnswer, true },
        { VaultLogStep.Append, VaultLogFault.RetryAfterLanding, true },
        // After the commit point: acknowledged, readers follow the seal.
        { VaultLogStep.ReplaceHead, VaultLogFault.FailBefore, true },
        { VaultLogStep.ReplaceHead, VaultLogFault.LoseAnswer, true },
        { VaultLogStep.DeleteLog, VaultLogFault.FailBefore, true },
    };

    [Theory]
    [MemberData(nameof(CompactionFaults))]
    public Task A_compaction_interrupted_at_any_step_leaves_a_readable_vault(VaultLogStep step, VaultLogFault fault, bool landed) => OnVaultScheduler(async () =>
    {
        var log = await OpenAsync();
        await CreateVaultAsync(log);
        Assert.Equal(VaultError.None, await AddAsync(log, "DOOMED"));
        Assert.Equal(VaultError.None, await AddAsync(log, "KEPT"));
        var oldLog = store.HeadOf(VaultId)!;
        // The seal is the append to the old log; other appends go to the new one.
        store.Inject(step, fault, step == VaultLogStep.Append ? name => name == oldLog : null);

        log.Tentative.Remove(log.Tentative.State.Secrets.Single(s => s.EnvKey == "DOOMED").Id);
        log.Tentative.Add(Secret("ADDED"));
        var reply = await log.CommitAsync();

        var acknowledged = step is VaultLogStep.ReplaceHead or VaultLogStep.DeleteLog;
        Assert.Equal(acknowledged ? VaultError.None : VaultError.Unavailable, reply);
        var next = await OpenAsync();
        Assert.Equal(landed ? ["ADDED", "KEPT"] : ["DOOMED", "KEPT"], EnvKeys(next));

        // The vault goes on: the next activation writes, compacts again and reads back.
        Assert.Equal(VaultError.None, await AddAsync(next, "LATER"));
        next.Tentative.Remove(next.Tentative.State.Secrets.Single(s => s.EnvKey == "KEPT").Id);
        Assert.Equal(VaultError.None, await next.CommitAsync());
        Assert.Equal(landed ? ["ADDED", "LATER"] : ["DOOMED", "LATER"], EnvKeys(await OpenAsync()));
    });

    [Fact]
    public Task Compaction_under_load_loses_nothing() => OnVaultScheduler(async () =>
    {
        var options = new VaultLogOptions { CompactAfterRecords = 3 };
        var log = await OpenAsync(options);
        await CreateVaultAsync(log);
        var replies = new List<Task<VaultError>>();
        for (var i = 0; i < 400; i++)
        {
            log.Tentative.Add(Secret($"LOAD_{i:D3}"));
            replies.Add(log.CommitAsync());
            if (i % 10 == 9)
            {
                // Forty batch boundaries or more, with the last five creates still in flight at each.
                await replies[^6];
            }
        }

        Assert.All(await Task.WhenAll(replies), reply => Assert.Equal(VaultError.None, reply));
        Assert.True(log.Cursor.Generation > 5, $"only {log.Cursor.Generation} compactions");
        Assert.Single(store.LogsOf(VaultId));
        var stored = await OpenAsync(options);
        Assert.Equal(Enumerable.Range(0, 400).Select(i => $"LOAD_{i:D3}"), EnvKeys(stored).Order(StringComparer.Ordinal));
    });

    [Fact]
    public Task A_vault_stored_whole_by_an_earlier_version_is_read_and_moved_on_its_first_write() => OnVaultScheduler(async () =>
    {
        var legacy = new VaultState { OrganizationId = "org_unit", Name = "Old", CreatedAt = DateTime.UnixEpoch, UpdatedAt = DateTime.UnixEpoch, VaultKey = new WrappedKey("local:k", "A256KW", [1, 2, 3]) };
        legacy.Secrets.Add(Secret("OLD_ONE"));
        store.PutLegacy(VaultId, Serializer.SerializeToArray(legacy));

        var log = await OpenAsync();
        Assert.Equal(["OLD_ONE"], EnvKeys(log));
        Assert.Null(store.HeadOf(VaultId));

        Assert.Equal(VaultError.None, await AddAsync(log, "NEW_ONE"));

        Assert.False(store.HasLegacy(VaultId));
        Assert.NotNull(store.HeadOf(VaultId));
        var moved = await OpenAsync();
        Assert.Equal(["NEW_ONE", "OLD_ONE"], EnvKeys(moved));
        Assert.Equal("Old", moved.Confirmed.State.Name);
    });

    [Fact]
    public Task Deleting_the_vault_removes_every_blob_it_had() => OnVaultScheduler(async () =>
    {
        var log = await OpenAsync();
        await CreateVaultAsync(log);
        Assert.Equal(VaultError.None, await AddAsync(log, "GONE"));
        log.Tentative.Remove(log.Tentative.State.Secrets.Single().Id);
        Assert.Equal(VaultError.None, await log.CommitAsync());
        log.Tentative.Erase();

        Assert.Equal(VaultError.None, await log.CommitAsync());

        Assert.Null(store.HeadOf(VaultId));
        Assert.Empty(store.LogsOf(VaultId));
        Assert.False((await OpenAsync()).Confirmed.Exists);
    });

    [Fact]
    public Task Audit_events_are_written_before_the_batch_and_a_refused_trail_fails_it() => OnVaultScheduler(async () =>
    {
        var hooks = new Hooks();
        var log = await OpenAsync(hooks: hooks);
        await CreateVaultAsync(log);
        var writesBefore = store.Calls.Count(c => c.StartsWith("Append", StringComparison.Ordinal));
        hooks.TrailAccepts = false;

        log.Tentative.Add(Secret("UNAUDITED"));
        Assert.Equal(VaultError.AuditUnavailable, await log.CommitAsync(Audit()));

        Assert.Equal(writesBefore, store.Calls.Count(c => c.StartsWith("Append", StringComparison.Ordinal)));
        Assert.Equal([VaultError.AuditUnavailable], hooks.Failures);
        Assert.Empty(EnvKeys(await OpenAsync()));
    });

    [Fact]
    public Task A_batchs_events_are_in_its_own_record_and_stay_owed_to_the_trail_until_it_confirms_them() => OnVaultScheduler(async () =>
    {
        // The trail took the events (answered) but has not written them: the change is acknowledged
        // with its events durable in its own record, and they are owed to the trail.
        var (log, hooks) = await OwingOneEventAsync();
        var staged = Assert.Single(hooks.Staged).Events.Single();
        Assert.StartsWith("evt_", staged.Id, StringComparison.Ordinal);
        var owed = Assert.Single((await ReadCursorAsync()).UnwrittenAudit);
        Assert.Equal([staged], owed.Events);

        // Asked (as the trail's recovery asks), a trail that has not written them gets them again
        // (marked as such, so it skips a copy it holds).
        Assert.Equal(VaultError.AuditUnavailable, await log.WhenAuditWrittenAsync(TimeSpan.FromSeconds(2)));
        Assert.NotEmpty(hooks.AskedWritten);
        await WaitUntilAsync(() => hooks.Staged.Count >= 2);
        Assert.Equal(staged.Id, hooks.Staged[1].Events.Single().Id);
        Assert.True(hooks.Staged[1].Again);

        hooks.TrailWrites = VaultError.None;
        Assert.Equal(VaultError.None, await log.WhenAuditWrittenAsync(TimeSpan.FromSeconds(5)));

        // The next record says how far the trail confirmed: read back, nothing is owed.
        Assert.Equal(VaultError.None, await AddAsync(log, "NEXT"));
        Assert.Empty((await ReadCursorAsync()).UnwrittenAudit);
    });

    [Fact]
    public Task A_stopped_log_asks_its_trail_nothing_more_and_leaves_what_it_owes_in_storage() => OnVaultScheduler(async () =>
    {
        var (log, hooks) = await OwingOneEventAsync();
        Assert.Equal(VaultError.AuditUnavailable, await log.WhenAuditWrittenAsync(TimeSpan.FromSeconds(2)));
        await WaitUntilAsync(() => hooks.Staged.Count >= 2);

        // The activation is gone: its delivery, retrying with backoff, ends instead of calling on.
        log.Stop();
        Assert.Equal(VaultError.AuditUnavailable, await log.WhenAuditWrittenAsync(TimeSpan.FromSeconds(5)));
        var (asked, staged) = (hooks.AskedWritten.Count, hooks.Staged.Count);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal((asked, staged), (hooks.AskedWritten.Count, hooks.Staged.Count));

        // The next activation still owes the event, and delivers it.
        Assert.Single((await ReadCursorAsync()).UnwrittenAudit);
        hooks.TrailWrites = VaultError.None;
        var next = await OpenAsync(hooks: hooks);
        Assert.Equal(VaultError.None, await next.WhenAuditWrittenAsync(TimeSpan.FromSeconds(5)));
    });

    [Fact]
    public Task A_checkpoint_carries_the_events_still_owed_to_the_trail() => OnVaultScheduler(async () =>
    {
        var hooks = new Hooks { TrailWrites = VaultError.AuditUnavailable };
        var log = await OpenAsync(new VaultLogOptions { CompactAfterRecords = 1 }, hooks);
        await CreateVaultAsync(log);
        log.Tentative.Add(Secret("FIRST"));
        Assert.Equal(VaultError.None, await log.CommitAsync(Audit("FIRST")));
        log.Tentative.Add(Secret("SECOND"));
        Assert.Equal(VaultError.None, await log.CommitAsync(Audit("SECOND")));
        log.Tentative.Add(Secret("THIRD"));
        Assert.Equal(VaultError.None, await log.CommitAsync(Audit("THIRD")));

        // The log was compacted past its first record: the old records are gone, their events are not.
        Assert.Equal(["FIRST", "SECOND", "THIRD"], (await ReadCursorAsync()).UnwrittenAudit.SelectMany(u => u.Events).Select(e => e.Entry.Resource.EnvKey));
        Assert.True(store.Calls.Count(c => c.StartsWith("WriteCheckpoint", StringComparison.Ordinal)) >= 2);
    });

    [Fact]
    public Task A_vault_is_deleted_only_once_the_trail_wrote_every_event_it_owes() => OnVaultScheduler(async () =>
    {
        var (log, hooks) = await OwingOneEventAsync();

        log.Tentative.Erase();
        Assert.Equal(VaultError.AuditUnavailable, await log.CommitAsync(Audit()));
        Assert.Equal(["OWED"], EnvKeys(await OpenAsync()));
        Assert.DoesNotContain(hooks.Staged, s => s.UntilWritten);

        hooks.TrailWrites = VaultError.None;
        var again = await OpenAsync(hooks: hooks);
        again.Tentative.Erase();
        Assert.Equal(VaultError.None, await again.CommitAsync(Audit()));
        Assert.True(hooks.Staged[^1].UntilWritten);
        Assert.Null(store.HeadOf(VaultId));
    });

    [Fact]
    public Task Changes_made_while_a_record_is_appended_are_written_together_in_the_next_record() => OnVaultScheduler(async () =>
    {
        var hooks = new Hooks();
        var (log, first, second, appends) = await FirstAppendHeldWithSecondWaitingAsync(hooks);
        log.Tentative.Add(Secret("THIRD"));
        var third = log.CommitAsync(Audit("THIRD"));
        await Task.Delay(50);

        // Nothing is taken behind the record in flight: the changes wait for its answer, then go as one batch.
        Assert.False(second.IsCompleted);
        Assert.Equal(["FIRST"], hooks.EventsSent.SelectMany(e => e).Select(e => e.Resource.EnvKey));
        var appendsBefore = Appends();

        store.HoldAppends = null;
        appends.SetResult();
        Assert.Equal([VaultError.None, VaultError.None, VaultError.None], await Task.WhenAll(first, second, third));
        Assert.Equal([["FIRST"], ["SECOND", "THIRD"]], hooks.EventsSent.Select(e => e.Select(x => x.Resource.EnvKey!).ToArray()));
        Assert.Equal(appendsBefore + 2, Appends());
        Assert.Equal(["FIRST", "SECOND", "THIRD"], EnvKeys(await OpenAsync()));
    });

    [Fact]
    public Task Changes_queued_behind_a_failed_write_fail_with_it_and_never_reach_the_trail() => OnVaultScheduler(async () =>
    {
        var hooks = new Hooks();
        store.Inject(VaultLogStep.Append, VaultLogFault.FailBefore);
        var (log, first, second, appends) = await FirstAppendHeldWithSecondWaitingAsync(hooks);
        store.HoldAppends = null;
        appends.SetResult();

        Assert.Equal(VaultError.Unavailable, await first);
        Assert.Equal(VaultError.Unavailable, await second);
        Assert.True(log.IsStale);
        // FIRST's events reached the trail saying success and get their error events; SECOND's never left the vault.
        Assert.Equal(["FIRST"], hooks.EventsSent.SelectMany(e => e).Select(e => e.Resource.EnvKey));
        Assert.Equal(["FIRST"], hooks.FailedEvents.SelectMany(f => f.Events).Select(e => e.Resource.EnvKey));
        Assert.All(hooks.FailedEvents, f => Assert.Equal(VaultError.Unavailable, f.Failure));
        Assert.Empty(EnvKeys(await OpenAsync()));
    });

    [Fact]
    public Task A_busy_vaults_next_batch_is_written_while_the_trail_answers_once_the_trail_took_the_one_before() => OnVaultScheduler(async () =>
    {
        var hooks = new Hooks();
        var log = await OpenAsync(hooks: hooks);
        await CreateVaultAsync(log);
        var startedBefore = store.AppendsStarted;

        // An idle vault's batch waits for the trail's answer before its record is appended.
        var trail = hooks.HoldTrail = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        log.Tentative.Add(Secret("FIRST"));
        var first = log.CommitAsync(Audit("FIRST"));
        await WaitUntilAsync(() => hooks.Staged.Count == 1);
        await Task.Delay(50);
        Assert.Equal(startedBefore, store.AppendsStarted);
        var appends = store.HoldAppends = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        hooks.HoldTrail = null;
        trail.SetResult(true);
        await WaitUntilAsync(() => store.AppendsStarted == startedBefore + 1);

        // SECOND joins while FIRST's record is appended: the vault is busy and the trail took its
        // previous batch, so SECOND is written and acknowledged while its own answer is still held.
        log.Tentative.Add(Secret("SECOND"));
        var second = log.CommitAsync(Audit("SECOND"));
        trail = hooks.HoldTrail = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        store.HoldAppends = null;
        appends.SetResult();

        // Bounded: a vault that waited for the held answer would never get here.
        Assert.Equal([VaultError.None, VaultError.None], await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.False(trail.Task.IsCompleted);
        Assert.Equal([("FIRST", false), ("SECOND", true)], hooks.Staged.Select(s => (s.Events.Single().Entry.Resource.EnvKey!, s.WrittenMeanwhile)));
        Assert.Equal(["FIRST", "SECOND"], EnvKeys(await OpenAsync()));
        Assert.Equal(["FIRST", "SECOND"], (await ReadCursorAsync()).UnwrittenAudit.SelectMany(u => u.Events).Select(e => e.Entry.Resource.EnvKey));
        hooks.HoldTrail = null;
        trail.SetResult(true);
    });

    [Fact]
    public Task When_the_trail_begins_to_fail_a_busy_vault_writes_one_batch_with_its_events_and_refuses_the_next() => OnVaultScheduler(async () =>
    {
        // The trail never confirms: what the log owes stays owed, to be read back.
        var hooks = new Hooks { TrailWrites = VaultError.AuditUnavailable };
        var (log, first, second, appends, startedBefore) = await FirstAppendingWithSecondBehindAsync(hooks);

        // The trail begins to refuse after it took FIRST: SECOND is already on its way (its answer
        // comes during its append), so it is written with its events; THIRD, behind it, waits for
        // its own answer and is refused, never stored.
        hooks.TrailAccepts = false;
        var secondAppend = store.HoldAppends = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        appends.SetResult();
        await WaitUntilAsync(() => store.AppendsStarted == startedBefore + 2 && hooks.Staged.Count == 2);
        log.Tentative.Add(Secret("THIRD"));
        var third = log.CommitAsync(Audit("THIRD"));
        store.HoldAppends = null;
        secondAppend.SetResult();

        Assert.Equal([VaultError.None, VaultError.None, VaultError.AuditUnavailable], await Task.WhenAll(first, second, third));
        Assert.Equal([false, true, false], hooks.Staged.Select(s => s.WrittenMeanwhile));
        Assert.Equal(startedBefore + 2, store.AppendsStarted);
        Assert.Equal(["FIRST", "SECOND"], EnvKeys(await OpenAsync()));
        Assert.Equal(["FIRST", "SECOND"], (await ReadCursorAsync()).UnwrittenAudit.SelectMany(u => u.Events).Select(e => e.Entry.Resource.EnvKey));
    });

    [Fact]
    public Task A_batch_written_while_the_trail_answers_whose_write_fails_reports_its_error_events_after_that_answer() => OnVaultScheduler(async () =>
    {
        var hooks = new Hooks();
        var (log, first, second, appends, startedBefore) = await FirstAppendingWithSecondBehindAsync(hooks);
        var trail = hooks.HoldTrail = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondAppend = store.HoldAppends = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        appends.SetResult();
        await WaitUntilAsync(() => store.AppendsStarted == startedBefore + 2);
        store.Inject(VaultLogStep.Append, VaultLogFault.FailBefore);
        store.HoldAppends = null;
        secondAppend.SetResult();

        Assert.Equal(VaultError.None, await first);
        Assert.Equal(VaultError.Unavailable, await second);
        Assert.True(log.IsStale);
        // SECOND's events say success and are on their way to the trail: the error events that
        // correct them are sent only once the trail answered, so they arrive after them.
        await Task.Delay(50);
        Assert.Empty(hooks.FailedEvents);
        hooks.HoldTrail = null;
        trail.SetResult(true);
        await WaitUntilAsync(() => hooks.FailedEvents.Count == 1);
        Assert.Equal(["SECOND"], hooks.FailedEvents.Single().Events.Select(e => e.Resource.EnvKey));
        Assert.Equal(VaultError.Unavailable, hooks.FailedEvents.Single().Failure);
        Assert.Equal(["FIRST"], EnvKeys(await OpenAsync()));
    });

    // A busy vault: FIRST's record is being appended (held until the caller completes the gate), and
    // SECOND waits behind it.
    private async Task<(VaultLog Log, Task<VaultError> First, Task<VaultError> Second, TaskCompletionSource Appends, int StartedBefore)> FirstAppendingWithSecondBehindAsync(Hooks hooks)
    {
        var log = await OpenAsync(hooks: hooks);
        await CreateVaultAsync(log);
        var startedBefore = store.AppendsStarted;
        var appends = store.HoldAppends = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        log.Tentative.Add(Secret("FIRST"));
        var first = log.CommitAsync(Audit("FIRST"));
        await WaitUntilAsync(() => store.AppendsStarted == startedBefore + 1);
        log.Tentative.Add(Secret("SECOND"));
        var second = log.CommitAsync(Audit("SECOND"));
        return (log, first, second, appends, startedBefore);
    }

    // FIRST is committed while the trail is held and SECOND joins while FIRST's events wait; then the
    // trail answers and FIRST's record is held in storage, until the caller completes the gate.
    private async Task<(VaultLog Log, Task<VaultError> First, Task<VaultError> Second, TaskCompletionSource Appends)> FirstAppendHeldWithSecondWaitingAsync(Hooks hooks)
    {
        var log = await OpenAsync(hooks: hooks);
        await CreateVaultAsync(log);
        var trail = hooks.HoldTrail = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var appends = store.HoldAppends = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        log.Tentative.Add(Secret("FIRST"));
        var first = log.CommitAsync(Audit("FIRST"));
        await WaitUntilAsync(() => hooks.EventsSent.Count == 1);
        log.Tentative.Add(Secret("SECOND"));
        var second = log.CommitAsync(Audit("SECOND"));
        hooks.HoldTrail = null;
        trail.SetResult(true);
        await Task.Delay(50);
        return (log, first, second, appends);
    }

    private int Appends() => store.Calls.Count(c => c.StartsWith("Append", StringComparison.Ordinal));

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    private static AuditEntry Audit(string envKey) => new(new AuditActor("api_key", "k"), "secret.create", AuditEntry.Success, 201, new AuditResource(VaultId, EnvKey: envKey), null);

    private static AuditEntry Audit() => new(new AuditActor("api_key", "k"), "secret.create", AuditEntry.Success, 201, new AuditResource(VaultId), null);

    // A vault with one acknowledged change whose event the trail took but does not confirm.
    private async Task<(VaultLog Log, Hooks Hooks)> OwingOneEventAsync()
    {
        var hooks = new Hooks { TrailWrites = VaultError.AuditUnavailable };
        var log = await OpenAsync(hooks: hooks);
        await CreateVaultAsync(log);
        log.Tentative.Add(Secret("OWED"));
        Assert.Equal(VaultError.None, await log.CommitAsync(Audit("OWED")));
        return (log, hooks);
    }

    private async Task<VaultLogCursor> ReadCursorAsync() =>
        (await VaultLog.ReadAsync(VaultId, store, new VaultLogCodec(Serializer), CancellationToken.None)).Cursor;

    private async Task<VaultLog> OpenAsync(VaultLogOptions? options = null, Hooks? hooks = null)
    {
        var log = new VaultLog(VaultId, store, new VaultLogCodec(Serializer), options ?? new VaultLogOptions(), hooks ?? new Hooks(), NullLogger.Instance);
        await log.LoadAsync(CancellationToken.None);
        return log;
    }

    internal static async Task CreateVaultAsync(VaultLog log)
    {
        var state = log.Tentative.State;
        state.OrganizationId = "org_unit";
        state.Name = "Unit";
        state.CreatedAt = state.UpdatedAt = DateTime.UnixEpoch;
        state.VaultKey = new WrappedKey("local:k", "A256KW", [1, 2, 3]);
        Assert.Equal(VaultError.None, await log.CommitAsync());
    }

    internal static Task<VaultError> AddAsync(VaultLog log, string envKey, string value = "v")
    {
        if (log.IsStale)
        {
            return Task.FromResult(VaultError.Unavailable);
        }

        log.Tentative.Add(Secret(envKey, value));
        return log.CommitAsync();
    }

    internal static StoredSecret Secret(string envKey, string value = "v", int valueBytes = 16) =>
        new(VaultGrains.Domain.ResourceId.New(VaultGrains.Domain.ResourceId.Secret), envKey, ["api.example.com"], DateTime.UnixEpoch, DateTime.UnixEpoch, 1, value.Length,
            new EncryptedValue(new byte[40], new byte[12], System.Text.Encoding.UTF8.GetBytes(value.PadRight(valueBytes)), new byte[16]));

    internal static string[] EnvKeys(VaultLog log) => [.. log.Confirmed.State.Secrets.Select(s => s.EnvKey).Order(StringComparer.Ordinal)];

    // Like a grain: one turn at a time, so the write loop and the callers never run in parallel.
    internal static Task OnVaultScheduler(Func<Task> body) =>
        Task.Factory.StartNew(body, CancellationToken.None, TaskCreationOptions.DenyChildAttach, new ConcurrentExclusiveSchedulerPair().ExclusiveScheduler).Unwrap();

    internal sealed class Hooks : IVaultLogHooks
    {
        public bool TrailAccepts { get; set; } = true;

        public List<VaultError> Failures { get; } = [];

        /// <summary>When set, the trail answers only once it completes.</summary>
        public TaskCompletionSource<bool>? HoldTrail { get; set; }

        /// <summary>The events of each batch, in the order they were sent to the trail.</summary>
        public List<IReadOnlyList<AuditEntry>> EventsSent { get; } = [];

        public List<(IReadOnlyList<AuditEntry> Events, VaultError Failure)> FailedEvents { get; } = [];

        /// <summary>Every staging, in order: the events and whether the caller waits for them to be written.</summary>
        public List<(IReadOnlyList<StagedAuditEvent> Events, bool UntilWritten, bool Again, bool WrittenMeanwhile)> Staged { get; } = [];

        /// <summary>What the trail answers when asked whether events are written.</summary>
        public VaultError TrailWrites { get; set; } = VaultError.None;

        /// <summary>Each question of whether events are written: the last event id of each batch asked about.</summary>
        public List<IReadOnlyList<string>> AskedWritten { get; } = [];

        public async Task<bool> StageAsync(IReadOnlyList<StagedAuditEvent> events, VaultModel snapshot, bool untilWritten, bool again, bool writtenMeanwhile)
        {
            lock (Staged)
            {
                Staged.Add((events, untilWritten, again, writtenMeanwhile));
                EventsSent.Add([.. events.Select(e => e.Entry)]);
            }

            return HoldTrail is { } hold ? await hold.Task : TrailAccepts;
        }

        public Task<VaultError> AwaitWrittenAsync(IReadOnlyList<string> lastEventIds, VaultModel snapshot, bool now)
        {
            lock (Staged)
            {
                AskedWritten.Add(lastEventIds);
            }

            return Task.FromResult(TrailWrites);
        }

        public Task AfterWriteAsync(VaultModel committed) => Task.CompletedTask;

        public void WriteFailed(IReadOnlyList<AuditEntry> events, VaultError failure)
        {
            Failures.Add(failure);
            if (events.Count > 0)
            {
                FailedEvents.Add((events, failure));
            }
        }

        /// <summary>How many states were sealed; each seal is its own number, so a test can tell which one storage kept.</summary>
        public int Sealed { get; private set; }

        public void Seal(VaultModel snapshot) => snapshot.State.IntegritySeal = BitConverter.GetBytes(++Sealed);
    }
}
