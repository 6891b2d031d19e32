using System.Diagnostics;
using System.Security.Cryptography;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

// The vault log spike (issue 10): an append blob per vault against one table partition per vault,
// on the storage given by LOGSPIKE_STORAGE (an Azurite connection string). Each "batch" holds k
// creates of a 200-byte encrypted record. Usage: dotnet run -c Release --project bench/LogSpike [seconds]
// With "cold": the cold read of a 1,000-secret vault through the shipped VaultLog (VaultLogColdRead).
var connection = Environment.GetEnvironmentVariable("LOGSPIKE_STORAGE") ?? throw new InvalidOperationException("LOGSPIKE_STORAGE is not set.");
if (args is ["cold", ..])
{
    await VaultGrains.Bench.LogSpike.VaultLogColdRead.RunAsync(connection);
    return;
}

var seconds = args.Length > 0 ? int.Parse(args[0]) : 3;
var prefix = "spike" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
var blobs = new BlobServiceClient(connection).GetBlobContainerClient(prefix);
await blobs.CreateIfNotExistsAsync();
var tables = new TableServiceClient(connection).GetTableClient(prefix);
await tables.CreateIfNotExistsAsync();
const int Writers = 64;
var record = RandomNumberGenerator.GetBytes(200);

Console.WriteLine($"| design | vaults | batch | batches/s | creates/s | p50 ms | p99 ms | conflicts |");
Console.WriteLine($"|---|---|---|---|---|---|---|---|");
foreach (var batch in new[] { 1, 10, 30 })
{
    foreach (var distinct in new[] { true, false })
    {
        await Measure("append blob", batch, distinct, AppendBlobWriter);
        await Measure("table rows", batch, distinct, TableWriter);
    }
}

await ColdReadAsync();
await blobs.DeleteIfExistsAsync();
await tables.DeleteAsync();

async Task Measure(string design, int batch, bool distinct, Func<string, int, Func<Task<Func<Task<bool>>>>> factory)
{
    var run = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    var latencies = new List<double>[Writers];
    var conflicts = 0;
    var deadline = Stopwatch.StartNew();
    var duration = TimeSpan.FromSeconds(seconds);
    // On one vault the 64 writers race for the guard, as duplicate activations would; a grain
    // writes serially, so the single-writer figure is the one that bounds a hot vault.
    var shared = distinct ? null : await factory($"{run}-one", batch)();
    await Task.WhenAll(Enumerable.Range(0, Writers).Select(async w =>
    {
        latencies[w] = [];
        var write = shared ?? await factory($"{run}-{w}", batch)();
        while (deadline.Elapsed < duration)
        {
            var started = Stopwatch.GetTimestamp();
            if (await write())
            {
                latencies[w].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            else
            {
                Interlocked.Increment(ref conflicts);
            }
        }
    }));
    var all = latencies.SelectMany(l => l).Order().ToArray();
    var perSecond = all.Length / deadline.Elapsed.TotalSeconds;
    Console.WriteLine($"| {design} | {(distinct ? "64" : "1")} | {batch} | {perSecond:F0} | {perSecond * batch:F0} | {Percentile(all, 0.5):F1} | {Percentile(all, 0.99):F1} | {conflicts} |");
    if (!distinct)
    {
        var serial = await factory($"{run}-serial", batch)();
        var count = 0;
        var serialLatencies = new List<double>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            var started = Stopwatch.GetTimestamp();
            if (await serial())
            {
                count++;
                serialLatencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }

        var rate = count / clock.Elapsed.TotalSeconds;
        serialLatencies.Sort();
        Console.WriteLine($"| {design} | 1, one writer | {batch} | {rate:F0} | {rate * batch:F0} | {Percentile([.. serialLatencies], 0.5):F1} | {Percentile([.. serialLatencies], 0.99):F1} | 0 |");
    }
}

Func<Task<Func<Task<bool>>>> AppendBlobWriter(string vault, int batch) => async () =>
{
    var blob = blobs.GetAppendBlobClient(vault);
    await blob.CreateIfNotExistsAsync();
    var position = (await blob.GetPropertiesAsync()).Value.ContentLength;
    var gate = new SemaphoreSlim(1);
    var payload = Frame(batch);
    return async () =>
    {
        long at;
        await gate.WaitAsync();
        at = position;
        gate.Release();
        try
        {
            using var stream = new MemoryStream(payload);
            await blob.AppendBlockAsync(stream, new AppendBlobAppendBlockOptions { Conditions = new AppendBlobRequestConditions { IfAppendPositionEqual = at } });
            await gate.WaitAsync();
            position = Math.Max(position, at + payload.Length);
            gate.Release();
            return true;
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            await gate.WaitAsync();
            position = (await blob.GetPropertiesAsync()).Value.ContentLength;
            gate.Release();
            return false;
        }
    };
};

Func<Task<Func<Task<bool>>>> TableWriter(string vault, int batch) => async () =>
{
    var header = new TableEntity(vault, "~header") { ["Sequence"] = 0L };
    var added = await tables.UpsertEntityAsync(header, TableUpdateMode.Replace);
    var etag = added.Headers.ETag!.Value;
    var sequence = 0L;
    var gate = new SemaphoreSlim(1);
    return async () =>
    {
        await gate.WaitAsync();
        var (at, tag) = (sequence, etag);
        gate.Release();
        var actions = new List<TableTransactionAction>(batch + 1)
        {
            new(TableTransactionActionType.UpdateReplace, new TableEntity(vault, "~header") { ["Sequence"] = at + 1 }, tag),
        };
        for (var i = 0; i < batch; i++)
        {
            actions.Add(new(TableTransactionActionType.Add, new TableEntity(vault, $"s{at + 1:D10}-{i:D3}-{Random.Shared.Next():x8}") { ["Value"] = record }));
        }

        try
        {
            var response = await tables.SubmitTransactionAsync(actions);
            await gate.WaitAsync();
            if (sequence == at)
            {
                sequence = at + 1;
                etag = response.Value[0].Headers.ETag!.Value;
            }

            gate.Release();
            return true;
        }
        catch (TableTransactionFailedException e) when (e.Status is 412 or 409)
        {
            var current = await tables.GetEntityAsync<TableEntity>(vault, "~header");
            await gate.WaitAsync();
            sequence = current.Value.GetInt64("Sequence")!.Value;
            etag = current.Value.ETag;
            gate.Release();
            return false;
        }
    };
};

byte[] Frame(int batch)
{
    // length + sequence + checksum framing around the batch's records, as the log writes it.
    var body = new byte[batch * (record.Length + 40)];
    return [.. BitConverter.GetBytes(body.Length), .. BitConverter.GetBytes(1L), .. body, .. SHA256.HashData(body)[..8]];
}

async Task ColdReadAsync()
{
    // 1,000 secrets: a checkpoint of 1,000 records (~300 B each) plus a log of 1,000 one-create
    // records, against a partition of 1,000 rows plus a header.
    var secrets = 1_000;
    var log = blobs.GetAppendBlobClient("cold-log");
    await log.CreateIfNotExistsAsync();
    var checkpoint = blobs.GetBlobClient("cold-checkpoint");
    await checkpoint.UploadAsync(BinaryData.FromBytes(RandomNumberGenerator.GetBytes(secrets * 300)), overwrite: true);
    var one = Frame(1);
    for (var i = 0; i < secrets; i += 50)
    {
        using var many = new MemoryStream([.. Enumerable.Repeat(one, 50).SelectMany(b => b)]);
        await log.AppendBlockAsync(many);
    }

    for (var i = 0; i < secrets; i += 99)
    {
        var actions = Enumerable.Range(i, Math.Min(99, secrets - i))
            .Select(n => new TableTransactionAction(TableTransactionActionType.UpsertReplace, new TableEntity("cold", $"s{n:D6}") { ["Value"] = RandomNumberGenerator.GetBytes(300) }))
            .ToList();
        await tables.SubmitTransactionAsync(actions);
    }

    await tables.UpsertEntityAsync(new TableEntity("cold", "~header") { ["Sequence"] = 1L });
    var blobTimes = new List<double>();
    var tableTimes = new List<double>();
    for (var round = 0; round < 20; round++)
    {
        var started = Stopwatch.GetTimestamp();
        var checkpointRead = checkpoint.DownloadContentAsync();
        var logRead = log.DownloadContentAsync();
        var bytes = (await checkpointRead).Value.Content.ToMemory().Length + (await logRead).Value.Content.ToMemory().Length;
        blobTimes.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        started = Stopwatch.GetTimestamp();
        var rows = 0;
        await foreach (var _ in tables.QueryAsync<TableEntity>(e => e.PartitionKey == "cold"))
        {
            rows++;
        }

        tableTimes.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        if (rows != secrets + 1 || bytes < secrets * 300)
        {
            throw new InvalidOperationException("cold read incomplete");
        }
    }

    blobTimes.Sort();
    tableTimes.Sort();
    Console.WriteLine();
    Console.WriteLine($"cold read of a 1,000-secret vault, p50 / p99 of 20: append blob (checkpoint + 1,000-record log) {Percentile([.. blobTimes], 0.5):F1} / {Percentile([.. blobTimes], 0.99):F1} ms; table partition (1,001 rows) {Percentile([.. tableTimes], 0.5):F1} / {Percentile([.. tableTimes], 0.99):F1} ms");
}

static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
