using System.Diagnostics;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace VaultGrains.Bench.Load;

/// <summary>
/// The raw write rate of the same Azurite through the Azure SDK, without Orleans: what a vault
/// write costs at the storage itself. Each worker owns its own blobs (rows), written in turn with
/// an ETag condition as the grain storage does, so writers never conflict.
/// </summary>
internal sealed class StorageCeiling(string connectionString)
{
    private const int ItemsPerWorker = 16;
    private const int TablePropertyBytes = 64 * 1024;

    /// <summary>The median size of the vault states the service stored: the "typical vault-state size".</summary>
    public async Task<int?> MedianBlobBytesAsync(string container)
    {
        var client = new BlobServiceClient(connectionString).GetBlobContainerClient(container);
        if (!await client.ExistsAsync())
        {
            return null;
        }

        var sizes = new List<long>();
        await foreach (var blob in client.GetBlobsAsync())
        {
            sizes.Add(blob.Properties.ContentLength ?? 0);
        }

        return sizes.Count == 0 ? null : (int)sizes.Order().ElementAt(sizes.Count / 2);
    }

    /// <summary>
    /// The mean size of one append to the vault logs the service wrote so far (bytes over committed
    /// blocks of its Append Blobs): what the vault log writes per batch. A log's whole size is not
    /// that: it grows by a record per batch until compaction, so the median log was ten times a
    /// record after a 30 s warm-up, and the append ceiling measured with it was too low.
    /// </summary>
    public async Task<int?> MeanAppendBytesAsync(string container)
    {
        var client = new BlobServiceClient(connectionString).GetBlobContainerClient(container);
        if (!await client.ExistsAsync())
        {
            return null;
        }

        long bytes = 0, appends = 0;
        await foreach (var blob in client.GetBlobsAsync())
        {
            if (blob.Properties.BlobType != BlobType.Append)
            {
                continue;
            }

            var properties = (await client.GetBlobClient(blob.Name).GetPropertiesAsync()).Value;
            bytes += properties.ContentLength;
            appends += properties.BlobCommittedBlockCount;
        }

        return appends == 0 ? null : (int)(bytes / appends);
    }

    /// <summary>The size of the largest blob whose name contains the grain's key: a vault's log (its head is a few bytes).</summary>
    public async Task<int?> BlobBytesAsync(string container, string grainKey)
    {
        var client = new BlobServiceClient(connectionString).GetBlobContainerClient(container);
        int? largest = null;
        await foreach (var blob in client.GetBlobsAsync())
        {
            if (blob.Name.Contains(grainKey, StringComparison.OrdinalIgnoreCase))
            {
                largest = Math.Max(largest ?? 0, (int)(blob.Properties.ContentLength ?? 0));
            }
        }

        return largest;
    }

    public async Task<Measurement> BlobWritesAsync(int workers, int bytes, TimeSpan warmup, TimeSpan duration, ProcessWatch watch)
    {
        var container = new BlobServiceClient(connectionString).GetBlobContainerClient($"benchceiling{Environment.TickCount64 % 100000}");
        await container.CreateIfNotExistsAsync();
        var etags = new ETag?[workers, ItemsPerWorker];
        var payloads = Enumerable.Range(0, workers).Select(_ => RandomPayload(bytes)).ToArray();
        var headers = new BlobHttpHeaders { ContentType = "application/octet-stream" };
        return await ClosedLoop.RunAsync(workers, warmup, duration, watch, async (worker, sequence) =>
        {
            var item = (int)(sequence % ItemsPerWorker);
            var payload = payloads[worker];
            BitConverter.TryWriteBytes(payload, sequence);
            var conditions = etags[worker, item] is { } etag ? new BlobRequestConditions { IfMatch = etag } : new BlobRequestConditions { IfNoneMatch = ETag.All };
            var began = Stopwatch.GetTimestamp();
            var response = await container.GetBlobClient($"w{worker}-{item}").UploadAsync(BinaryData.FromBytes(payload), new BlobUploadOptions { Conditions = conditions, HttpHeaders = headers });
            etags[worker, item] = response.Value.ETag;
            return Outcome.Success(Stopwatch.GetTimestamp() - began);
        });
    }

    /// <summary>
    /// Appends to Append Blobs, each conditioned on the append position as the vault log's are:
    /// the storage write a vault log batch is.
    /// </summary>
    public async Task<Measurement> AppendWritesAsync(int workers, int bytes, TimeSpan warmup, TimeSpan duration, ProcessWatch watch)
    {
        var container = new BlobServiceClient(connectionString).GetBlobContainerClient($"benchappend{Environment.TickCount64 % 100000}");
        await container.CreateIfNotExistsAsync();
        var positions = new long[workers, ItemsPerWorker];
        var payloads = Enumerable.Range(0, workers).Select(_ => RandomPayload(bytes)).ToArray();
        await Parallel.ForEachAsync(Enumerable.Range(0, workers * ItemsPerWorker), new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (i, ct) => await container.GetAppendBlobClient($"w{i / ItemsPerWorker}-{i % ItemsPerWorker}").CreateIfNotExistsAsync(cancellationToken: ct));
        return await ClosedLoop.RunAsync(workers, warmup, duration, watch, async (worker, sequence) =>
        {
            var item = (int)(sequence % ItemsPerWorker);
            var payload = payloads[worker];
            BitConverter.TryWriteBytes(payload, sequence);
            var began = Stopwatch.GetTimestamp();
            using var content = new MemoryStream(payload, writable: false);
            await container.GetAppendBlobClient($"w{worker}-{item}").AppendBlockAsync(content, new AppendBlobAppendBlockOptions
            {
                Conditions = new AppendBlobRequestConditions { IfAppendPositionEqual = positions[worker, item] },
            });
            positions[worker, item] += payload.Length;
            return Outcome.Success(Stopwatch.GetTimestamp() - began);
        });
    }

    public async Task<Measurement> TableWritesAsync(int workers, int bytes, TimeSpan warmup, TimeSpan duration, ProcessWatch watch)
    {
        var table = new TableServiceClient(connectionString).GetTableClient($"benchceiling{Environment.TickCount64 % 100000}");
        await table.CreateIfNotExistsAsync();
        var etags = new ETag?[workers, ItemsPerWorker];
        var payloads = Enumerable.Range(0, workers).Select(_ => RandomPayload(bytes)).ToArray();
        return await ClosedLoop.RunAsync(workers, warmup, duration, watch, async (worker, sequence) =>
        {
            var item = (int)(sequence % ItemsPerWorker);
            var payload = payloads[worker];
            BitConverter.TryWriteBytes(payload, sequence);
            // As the grain storage does with a large state: binary properties of at most 64 KiB each.
            var entity = new TableEntity("bench", $"w{worker}-{item}");
            for (var (offset, index) = (0, 0); offset < payload.Length; offset += TablePropertyBytes, index++)
            {
                entity[$"Data{index}"] = payload.AsSpan(offset, Math.Min(TablePropertyBytes, payload.Length - offset)).ToArray();
            }

            var began = Stopwatch.GetTimestamp();
            var response = etags[worker, item] is { } etag
                ? await table.UpdateEntityAsync(entity, etag, TableUpdateMode.Replace)
                : await table.AddEntityAsync(entity);
            etags[worker, item] = response.Headers.ETag;
            return Outcome.Success(Stopwatch.GetTimestamp() - began);
        });
    }

    private static byte[] RandomPayload(int bytes)
    {
        var payload = new byte[Math.Max(bytes, 16)];
        Random.Shared.NextBytes(payload);
        return payload;
    }
}
