using System.Diagnostics;
using System.Globalization;

namespace VaultGrains.Bench.Load;

/// <summary>
/// Every scenario against every target, one after the other, so that only one thing loads the
/// machine at a time; the storage ceiling runs on the same Azurite right after scenario 1.
/// </summary>
/// <remarks>
/// With <paramref name="audit"/>, every service scenario also counts the appends the audit trail
/// committed while it ran (before and after it, never during the measured window).
/// </remarks>
internal sealed class BenchRun(BenchSettings settings, ProcessWatch watch, IReadOnlyList<TargetState> targets, StorageCeiling? storage, string vaultContainer, AuditTrailBlobs? audit = null)
{
    public List<ResultRow> Rows { get; } = [];

    public async Task RunAsync()
    {
        foreach (var target in targets)
        {
            Log($"{target.Name}: setting up");
            await target.SetupAsync(settings);
            Log($"{target.Name}: {target.Supply.Created} vaults ready in {target.SetupTime.TotalSeconds:F1} s");
        }

        if (settings.Runs("spread"))
        {
            await EachTargetAsync("1", $"creates over {settings.SpreadVaults:N0} vaults", SpreadAsync);
        }

        if (settings.Runs("storage") && storage is not null)
        {
            await StorageAsync(storage);
        }

        if (settings.Runs("hot"))
        {
            await EachTargetAsync("2", "creates into one hot vault", HotAsync);
        }

        if (settings.Runs("list"))
        {
            await EachTargetAsync("3", $"list secrets of a {settings.ListSecrets}-secret vault", ListAsync);
        }

        if (settings.Runs("mix"))
        {
            await EachTargetAsync("4", "90/10 read/write mix", MixAsync);
        }

        if (settings.Runs("growth"))
        {
            for (var level = 0; level < 3; level++)
            {
                var index = level;
                var secrets = targets[0].Growth[index].Secrets;
                await EachTargetAsync($"5.{level + 1}", $"growth: create into a vault of {secrets:N0}", t => GrowthAsync(t, index));
            }
        }

        if (settings.Runs("storm"))
        {
            await EachTargetAsync("6", $"duplicate storm ({settings.Connections} creates of one env_key)", StormAsync);
        }
    }

    private async Task EachTargetAsync(string id, string scenario, Func<TargetState, Task<(Measurement Measurement, string Notes)>> run)
    {
        foreach (var target in targets)
        {
            Log($"scenario {id} {scenario}: {target.Name}");
            var trail = target.Name == "service" && audit is not null ? (Before: await audit.SnapshotAsync(), Creates: target.Ledger.AcknowledgedCount) : default;
            var (measurement, notes) = await run(target);
            var row = ResultRow.From(id, scenario, target.Name, measurement, notes);
            if (target.Name == "service" && audit is not null)
            {
                var written = await audit.SnapshotAsync() - trail.Before;
                var creates = target.Ledger.AcknowledgedCount - trail.Creates;
                var perThousand = creates == 0 ? "-" : (written.Appends * 1000.0 / creates).ToString("F1", CultureInfo.InvariantCulture);
                row = row with
                {
                    AuditAppends = written.Appends,
                    AuditCreates = creates,
                    AuditBytes = written.Bytes,
                    Notes = (row.Notes.Length == 0 ? "" : row.Notes + "; ")
                        + $"{audit.Container}: {written.Appends:N0} appends ({written.Bytes / 1048576.0:F1} MiB, {written.Segments:N0} new segments) for {creates:N0} creates, {perThousand} per 1,000",
                };
            }

            Rows.Add(row);
            Log($"  {row.Summary()}");
        }
    }

    private async Task<(Measurement, string)> SpreadAsync(TargetState target)
    {
        var measurement = await ClosedLoop.RunAsync(settings.Connections, settings.Warmup, settings.Duration, watch, async (worker, sequence) =>
        {
            var slot = target.Spread[Random.Shared.Next(target.Spread.Length)];
            var vault = await slot.AcquireAsync();
            return await target.CreateAsync(vault, $"S1_{worker}_{sequence}", Values.Of(settings.ValueBytes, "S1", worker, sequence));
        });
        var rotations = target.Spread.Sum(s => s.Rotations);
        return (measurement, rotations == 0 ? "" : $"{rotations} full vaults replaced");
    }

    private async Task StorageAsync(StorageCeiling ceiling)
    {
        // Whole-state writes (blob, table) of the typical vault: the median size of the vault blobs
        // the service wrote so far. Appends of the typical vault log record: their mean size.
        var bytes = await ceiling.MedianBlobBytesAsync(vaultContainer) ?? 4096;
        var appendBytes = await ceiling.MeanAppendBytesAsync(vaultContainer) ?? bytes;
        var label = $"{bytes / 1024.0:F1} KiB";
        var appendLabel = $"{appendBytes / 1024.0:F1} KiB";
        Log($"storage ceiling: {label} writes and {appendLabel} appends, {settings.Connections} writers");
        var blob = await ceiling.BlobWritesAsync(settings.Connections, bytes, settings.ShortWarmup, settings.StorageDuration, watch);
        Rows.Add(ResultRow.From("S", $"storage ceiling: blob writes of {label}", "azurite", blob, "Azure SDK, no Orleans; ETag-conditioned like grain storage"));
        Log($"  {Rows[^1].Summary()}");
        var append = await ceiling.AppendWritesAsync(settings.Connections, appendBytes, settings.ShortWarmup, settings.StorageDuration, watch);
        Rows.Add(ResultRow.From("S", $"storage ceiling: append-blob appends of {appendLabel}", "azurite", append, "Azure SDK, no Orleans; conditioned on the append position like the vault log; the mean size of the service's log appends"));
        Log($"  {Rows[^1].Summary()}");
        var table = await ceiling.TableWritesAsync(settings.Connections, bytes, settings.ShortWarmup, settings.StorageDuration, watch);
        Rows.Add(ResultRow.From("S", $"storage ceiling: table writes of {label}", "azurite", table, "Azure SDK, no Orleans; ETag-conditioned like grain storage"));
        Log($"  {Rows[^1].Summary()}");
    }

    private async Task<(Measurement, string)> HotAsync(TargetState target)
    {
        target.Supply.KeepReady(8);
        var hot = new VaultSlot(target.Supply, await target.Supply.TakeAsync());
        var measurement = await ClosedLoop.RunAsync(settings.Connections, settings.Warmup, settings.Duration, watch, async (worker, sequence) =>
        {
            var vault = await hot.AcquireAsync();
            return await target.CreateAsync(vault, $"S2_{worker}_{sequence}", Values.Of(settings.ValueBytes, "S2", worker, sequence));
        });
        target.Supply.KeepReady(0);
        return (measurement, $"one vault at a time, each filled to its 1,000 secrets then replaced ({hot.Rotations + 1} vaults)");
    }

    private async Task<(Measurement, string)> ListAsync(TargetState target)
    {
        var vault = target.ListVault!;
        var measurement = await ClosedLoop.RunAsync(settings.Connections, settings.Warmup, settings.Duration, watch, async (_, _) =>
        {
            var began = Stopwatch.GetTimestamp();
            var failure = await target.Api.GetAsync(vault.Secrets, vault.Tenant);
            var elapsed = Stopwatch.GetTimestamp() - began;
            return failure is null ? Outcome.Success(elapsed) : Outcome.Error(elapsed, failure);
        });
        return (measurement, "");
    }

    private async Task<(Measurement, string)> MixAsync(TargetState target)
    {
        // Reads: metadata of secrets acknowledged earlier in the spread vaults; writes: creates into them.
        var known = target.Ledger.Sample(target.Spread.Select(s => s.Current), 20);
        if (known.Count == 0)
        {
            known = target.Ledger.Sample([target.ListVault!], 100);
        }

        var reads = known.Select(k => (k.Vault, Uri: k.Vault.Secret(k.SecretId))).ToArray();
        var measurement = await ClosedLoop.RunAsync(settings.Connections, settings.Warmup, settings.Duration, watch, async (worker, sequence) =>
        {
            if (Random.Shared.Next(10) != 0)
            {
                var (vault, uri) = reads[Random.Shared.Next(reads.Length)];
                var began = Stopwatch.GetTimestamp();
                var failure = await target.Api.GetAsync(uri, vault.Tenant);
                var elapsed = Stopwatch.GetTimestamp() - began;
                return failure is null ? Outcome.Success(elapsed, "read") : Outcome.Error(elapsed, failure, "read");
            }

            var slot = target.Spread[Random.Shared.Next(target.Spread.Length)];
            return await target.CreateAsync(await slot.AcquireAsync(), $"S4_{worker}_{sequence}", Values.Of(settings.ValueBytes, "S4", worker, sequence), "write");
        });
        return (measurement, $"read p50 {Ms(measurement, "read")} / write p50 {Ms(measurement, "write")} ms");
    }

    private async Task<(Measurement, string)> GrowthAsync(TargetState target, int level)
    {
        var (secrets, vault) = target.Growth[level];
        // Each create (timed) is followed by the delete of what it created (not timed), so the
        // vault holds the same number of secrets before every measured create.
        var measurement = await ClosedLoop.RunAsync(settings.GrowthConnections, settings.ShortWarmup, settings.GrowthDuration, watch, async (worker, sequence) =>
        {
            var began = Stopwatch.GetTimestamp();
            var reply = await target.Api.CreateSecretAsync(vault, $"S5_{worker}_{sequence}", Values.Of(settings.ValueBytes, "S5", worker, sequence));
            var elapsed = Stopwatch.GetTimestamp() - began;
            if (reply.Status != CreateStatus.Created)
            {
                return Outcome.Error(elapsed, reply.Failure ?? reply.Status.ToString());
            }

            target.Ledger.Acknowledged(vault, reply.SecretId!);
            if (!await target.Api.DeleteSecretAsync(vault, reply.SecretId!))
            {
                return Outcome.Error(elapsed, "delete failed");
            }

            target.Ledger.Deleted(vault, reply.SecretId!);
            return Outcome.Success(elapsed);
        });
        var notes = $"{settings.GrowthConnections} connection(s); {secrets:N0} secrets before each create";
        if (target.Name == "service" && storage is not null && await storage.BlobBytesAsync(vaultContainer, vault.Id) is { } bytes)
        {
            // The same write at the storage alone: how much of the growth is the storage's.
            var raw = await storage.BlobWritesAsync(settings.GrowthConnections, bytes, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(2), watch);
            notes += $"; vault log {bytes / 1024.0:F1} KiB, a raw blob write of that size: p50 {Table.Ms(raw.PercentileMs(50))} ms";
        }

        return (measurement, notes);
    }

    private async Task<(Measurement, string)> StormAsync(TargetState target)
    {
        var slot = new VaultSlot(target.Supply, await target.Supply.TakeAsync());
        var start = Stopwatch.GetTimestamp();
        var measureFrom = start + (long)(settings.ShortWarmup.TotalSeconds * Stopwatch.Frequency);
        var measureTo = measureFrom + (long)(settings.StormDuration.TotalSeconds * Stopwatch.Frequency);
        var cpu = ClosedLoop.SampleCpuAsync(watch, measureFrom, measureTo);
        var measurement = new Measurement { Window = settings.StormDuration };
        int rounds = 0, correct = 0;
        for (var round = 0; Stopwatch.GetTimestamp() < measureTo; round++)
        {
            // One round: every connection creates the same env_key at once, with its own value.
            var vault = await slot.AcquireAsync();
            var envKey = $"S6_{round}";
            var outcomes = await Task.WhenAll(Enumerable.Range(0, settings.Connections).Select(async worker =>
            {
                var began = Stopwatch.GetTimestamp();
                var reply = await target.Api.CreateSecretAsync(vault, envKey, Values.Of(settings.ValueBytes, "S6", worker, round));
                return (Reply: reply, Elapsed: Stopwatch.GetTimestamp() - began);
            }));
            var created = outcomes.Where(o => o.Reply.Status == CreateStatus.Created).ToArray();
            foreach (var (reply, _) in created)
            {
                target.Ledger.Acknowledged(vault, reply.SecretId!);
            }

            var ended = Stopwatch.GetTimestamp();
            if (ended < measureFrom || ended > measureTo)
            {
                continue;
            }

            rounds++;
            if (created.Length == 1 && outcomes.Count(o => o.Reply.Status == CreateStatus.EnvKeyExists) == outcomes.Length - 1)
            {
                correct++;
            }

            foreach (var (reply, elapsed) in outcomes)
            {
                measurement.Record(reply.Status is CreateStatus.Created or CreateStatus.EnvKeyExists
                    ? Outcome.Success(elapsed)
                    : Outcome.Error(elapsed, reply.Failure ?? reply.Status.ToString()));
            }
        }

        measurement.Cpu = await cpu;
        measurement.Rounds = rounds;
        measurement.CorrectRounds = correct;
        return (measurement, $"{correct:N0} of {rounds:N0} rounds had exactly one 201 and {settings.Connections - 1} \"env_key already exists\"");
    }

    private static string Ms(Measurement measurement, string kind) =>
        measurement.ByKind.TryGetValue(kind, out var part) ? part.PercentileMs(50).ToString("F2", CultureInfo.InvariantCulture) : "-";

    public static void Log(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");
}
