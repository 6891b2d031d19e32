using Azure.Storage.Blobs;

namespace VaultGrains.Bench.Load;

/// <summary>What the audit container holds at one moment: segments, the appends committed to them, their bytes.</summary>
internal readonly record struct AuditSnapshot(long Segments, long Appends, long Bytes)
{
    public static AuditSnapshot operator -(AuditSnapshot after, AuditSnapshot before) =>
        new(after.Segments - before.Segments, after.Appends - before.Appends, after.Bytes - before.Bytes);
}

/// <summary>
/// Counts the writes of the audit trail in its container (<c>&lt;prefix&gt;-audit</c>): every
/// segment is an Append Blob, so its committed block count is the number of appends made to it
/// (one per group commit of the organization's trail grain, a second only past 4 MiB).
/// </summary>
internal sealed class AuditTrailBlobs(string connectionString, string container)
{
    public string Container => container;

    public async Task<AuditSnapshot> SnapshotAsync()
    {
        var client = new BlobServiceClient(connectionString).GetBlobContainerClient(container);
        if (!await client.ExistsAsync())
        {
            return default;
        }

        long segments = 0, appends = 0, bytes = 0;
        await foreach (var blob in client.GetBlobsAsync())
        {
            if (!blob.Name.EndsWith(".jsonl", StringComparison.Ordinal))
            {
                continue; // retention anchors
            }

            var properties = (await client.GetBlobClient(blob.Name).GetPropertiesAsync()).Value;
            segments++;
            appends += properties.BlobCommittedBlockCount;
            bytes += properties.ContentLength;
        }

        return new AuditSnapshot(segments, appends, bytes);
    }
}
