using System.Diagnostics;
using System.Security.Cryptography;
using Azure.Storage.Blobs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Serialization;
using VaultGrains.Grains;
using VaultGrains.Grains.Audit;
using VaultGrains.Grains.Crypto;
using VaultGrains.Grains.Vaults;

namespace VaultGrains.Bench.LogSpike;

/// <summary>
/// What a cold activation of a full vault reads: a vault of 1,000 secrets written one create per
/// batch (a checkpoint and a log of 1,000 records), against the same vault in one checkpoint, read
/// with the shipped <see cref="VaultLog"/> and <see cref="BlobVaultLogStore"/> (storage and decoding,
/// no Orleans activation).
/// </summary>
internal static class VaultLogColdRead
{
    private const int Secrets = 1_000;
    private const int Reads = 30;

    public static async Task RunAsync(string connection)
    {
        var container = new BlobServiceClient(connection).GetBlobContainerClient("coldread" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3)));
        await container.CreateIfNotExistsAsync();
        var store = new BlobVaultLogStore(container);
        var codec = new VaultLogCodec(new ServiceCollection().AddSerializer(b => b.AddAssembly(typeof(VaultLog).Assembly)).BuildServiceProvider().GetRequiredService<Serializer>());
        var scheduler = new ConcurrentExclusiveSchedulerPair().ExclusiveScheduler;
        try
        {
            var longLog = await Task.Factory.StartNew(() => WriteVaultAsync(store, codec, "vlt_longlog", onePerBatch: true), CancellationToken.None, TaskCreationOptions.None, scheduler).Unwrap();
            var compacted = await Task.Factory.StartNew(() => WriteVaultAsync(store, codec, "vlt_compacted", onePerBatch: false), CancellationToken.None, TaskCreationOptions.None, scheduler).Unwrap();
            var shipped = await Task.Factory.StartNew(() => WriteVaultAsync(store, codec, "vlt_shipped", onePerBatch: true, new VaultLogOptions()), CancellationToken.None, TaskCreationOptions.None, scheduler).Unwrap();
            foreach (var (vaultId, label, bytes) in new[]
            {
                ("vlt_longlog", "checkpoint + 1,000-record log", longLog),
                ("vlt_shipped", $"1,000 one-create batches, default compaction after {new VaultLogOptions().CompactAfterRecords} records", shipped),
                ("vlt_compacted", "one checkpoint", compacted),
            })
            {
                var times = new List<double>();
                for (var i = 0; i < Reads; i++)
                {
                    var started = Stopwatch.GetTimestamp();
                    var (state, _) = await VaultLog.ReadAsync(vaultId, store, codec, CancellationToken.None);
                    times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    if (state.Secrets.Count != Secrets)
                    {
                        throw new InvalidOperationException($"read {state.Secrets.Count} secrets");
                    }
                }

                times.Sort();
                // The same bytes again, download only: how much of the read is the storage's.
                var head = (await store.ReadHeadAsync(vaultId, CancellationToken.None))!;
                var downloads = new List<double>();
                for (var i = 0; i < Reads; i++)
                {
                    var started = Stopwatch.GetTimestamp();
                    await store.ReadLogAsync(vaultId, head.Log, CancellationToken.None);
                    downloads.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }

                downloads.Sort();
                Console.WriteLine($"cold read of a 1,000-secret vault ({label}, {bytes / 1024.0:F0} KiB stored), {Reads} reads: p50 {times[Reads / 2]:F1} ms, p99 {times[^1]:F1} ms; the log's download alone p50 {downloads[Reads / 2]:F1} ms");
            }
        }
        finally
        {
            await container.DeleteIfExistsAsync();
        }
    }

    private static async Task<long> WriteVaultAsync(BlobVaultLogStore store, VaultLogCodec codec, string vaultId, bool onePerBatch, VaultLogOptions? options = null)
    {
        options ??= new VaultLogOptions { CompactAfterBytes = 64 * 1024 * 1024, CompactAfterRecords = 1_000_000 };
        var log = new VaultLog(vaultId, store, codec, options, new NoHooks(), NullLogger.Instance);
        await log.LoadAsync(CancellationToken.None);
        var state = log.Tentative.State;
        state.OrganizationId = "org_bench";
        state.Name = "Cold";
        state.VaultKey = new WrappedKey("local:bench", "A256KW", RandomNumberGenerator.GetBytes(40));
        await Expect(log.CommitAsync());
        var tasks = new List<Task<VaultError>>();
        for (var i = 0; i < Secrets; i++)
        {
            var id = $"sec_{i:D26}";
            log.Tentative.Add(new StoredSecret(id, $"KEY_{i:D4}", ["api.example.com"], DateTime.UtcNow, DateTime.UtcNow, 1, 150,
                new EncryptedValue(RandomNumberGenerator.GetBytes(40), RandomNumberGenerator.GetBytes(12), RandomNumberGenerator.GetBytes(150), RandomNumberGenerator.GetBytes(16))));
            if (onePerBatch)
            {
                await Expect(log.CommitAsync());
            }
        }

        if (!onePerBatch)
        {
            // A delete forces the batch into a checkpoint: the vault as one compacted blob.
            log.Tentative.Add(new StoredSecret("sec_doomed", "DOOMED", [], DateTime.UtcNow, DateTime.UtcNow, 1, 1, new EncryptedValue([1], [2], [3], [4])));
            await Expect(log.CommitAsync());
            log.Tentative.Remove("sec_doomed");
            await Expect(log.CommitAsync());
        }

        return log.Cursor.Position;
    }

    private static async Task Expect(Task<VaultError> write)
    {
        if (await write is var error && error != VaultError.None)
        {
            throw new InvalidOperationException($"write failed: {error}");
        }
    }

    private sealed class NoHooks : IVaultLogHooks
    {
        public Task<bool> StageAsync(IReadOnlyList<StagedAuditEvent> events, VaultModel snapshot, bool untilWritten, bool again, bool writtenMeanwhile) => Task.FromResult(true);

        public Task<VaultError> AwaitWrittenAsync(IReadOnlyList<string> lastEventIds, VaultModel snapshot, bool now) => Task.FromResult(VaultError.None);

        public Task AfterWriteAsync(VaultModel committed) => Task.CompletedTask;

        public void Seal(VaultModel snapshot)
        {
        }

        public void WriteFailed(IReadOnlyList<AuditEntry> events, VaultError failure)
        {
        }
    }
}
