using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace VaultGrains.Grains.Audit;

/// <summary>Where an organization's trail ends: the segment being appended to and its last event.</summary>
public sealed record AuditTail(string? Segment, long Length, int Blocks, string LastHash, string? LastEventId)
{
    public static readonly AuditTail Empty = new(null, 0, 0, AuditChain.Genesis, null);
}

/// <summary>What retention removed: the last deleted event, whose hash the first kept event names.</summary>
public sealed record AuditAnchor(string LastDeletedEventId, string LastDeletedHash);

/// <summary>
/// The storage of audit trails: per organization, a sequence of append-only segments (Append
/// Blobs named by their first event id, so names sort in time order) and a retention anchor.
/// </summary>
public interface IAuditStore
{
    Task<IReadOnlyList<string>> ListSegmentsAsync(string organizationId, CancellationToken cancellationToken);

    Task<string> ReadSegmentAsync(string organizationId, string segment, CancellationToken cancellationToken);

    /// <summary>
    /// Appends <paramref name="lines"/> (UTF-8) at <paramref name="expectedLength"/> of the segment
    /// (creating it when <paramref name="create"/>): a second writer, or a retried append that
    /// already landed, fails instead of writing twice.
    /// </summary>
    Task AppendAsync(string organizationId, string segment, bool create, long expectedLength, ReadOnlyMemory<byte> lines, CancellationToken cancellationToken);

    Task DeleteSegmentAsync(string organizationId, string segment, CancellationToken cancellationToken);

    Task<AuditAnchor?> ReadAnchorAsync(string organizationId, CancellationToken cancellationToken);

    Task WriteAnchorAsync(string organizationId, AuditAnchor anchor, CancellationToken cancellationToken);

    /// <summary>
    /// The vaults that may hold events the trail took but had not written yet (see
    /// <see cref="AuditTrailGrain"/>), and the list's ETag (null when none is stored).
    /// </summary>
    Task<(IReadOnlyList<string> Vaults, string? ETag)> ReadStagingVaultsAsync(string organizationId, CancellationToken cancellationToken);

    /// <summary>Replaces that list if it is still at <paramref name="etag"/> (null: none stored); the new ETag, or null when another writer changed it first.</summary>
    Task<string?> TryWriteStagingVaultsAsync(string organizationId, IReadOnlyCollection<string> vaults, string? etag, CancellationToken cancellationToken);
}

/// <summary>The trail in Azure Blob storage (Azurite locally): one container, a folder per organization.</summary>
public sealed class BlobAuditStore(BlobContainerClient container) : IAuditStore
{
    private const string SegmentSuffix = ".jsonl";
    private const string AnchorName = "retention-anchor";
    private const string StagingVaultsName = "staging-vaults";
    // The block size every Append Blob service version (and Azurite) accepts.
    private const int MaxAppendBytes = 4 * 1024 * 1024;
    private readonly BlobContainerCreation containerCreation = new(container);

    public async Task<IReadOnlyList<string>> ListSegmentsAsync(string organizationId, CancellationToken cancellationToken)
    {
        await containerCreation.EnsureCreatedAsync();
        var segments = new List<string>();
        await foreach (var blob in container.GetBlobsAsync(new GetBlobsOptions { Prefix = organizationId + "/" }, cancellationToken))
        {
            if (blob.Name.EndsWith(SegmentSuffix, StringComparison.Ordinal))
            {
                segments.Add(blob.Name[(organizationId.Length + 1)..^SegmentSuffix.Length]);
            }
        }

        segments.Sort(StringComparer.Ordinal);
        return segments;
    }

    public async Task<string> ReadSegmentAsync(string organizationId, string segment, CancellationToken cancellationToken)
    {
        var content = await container.GetBlobClient(SegmentName(organizationId, segment)).DownloadContentAsync(cancellationToken);
        return content.Value.Content.ToString();
    }

    public async Task AppendAsync(string organizationId, string segment, bool create, long expectedLength, ReadOnlyMemory<byte> lines, CancellationToken cancellationToken)
    {
        await containerCreation.EnsureCreatedAsync();
        var blob = container.GetAppendBlobClient(SegmentName(organizationId, segment));
        if (create)
        {
            await blob.CreateAsync(new AppendBlobCreateOptions { Conditions = new AppendBlobRequestConditions { IfNoneMatch = ETag.All } }, cancellationToken);
        }

        var position = expectedLength;
        for (var offset = 0; offset < lines.Length; offset += MaxAppendBytes)
        {
            var count = Math.Min(MaxAppendBytes, lines.Length - offset);
            using var block = BinaryData.FromBytes(lines.Slice(offset, count)).ToStream();
            await blob.AppendBlockAsync(block, new AppendBlobAppendBlockOptions { Conditions = new AppendBlobRequestConditions { IfAppendPositionEqual = position } }, cancellationToken);
            position += count;
        }
    }

    public Task DeleteSegmentAsync(string organizationId, string segment, CancellationToken cancellationToken) =>
        container.GetBlobClient(SegmentName(organizationId, segment)).DeleteIfExistsAsync(cancellationToken: cancellationToken);

    public async Task<AuditAnchor?> ReadAnchorAsync(string organizationId, CancellationToken cancellationToken)
    {
        await containerCreation.EnsureCreatedAsync();
        try
        {
            var content = await container.GetBlobClient($"{organizationId}/{AnchorName}").DownloadContentAsync(cancellationToken);
            return content.Value.Content.ToString().Split('\t') is [var id, var hash] ? new AuditAnchor(id, hash) : null;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task WriteAnchorAsync(string organizationId, AuditAnchor anchor, CancellationToken cancellationToken)
    {
        await containerCreation.EnsureCreatedAsync();
        await container.GetBlobClient($"{organizationId}/{AnchorName}")
            .UploadAsync(BinaryData.FromString($"{anchor.LastDeletedEventId}\t{anchor.LastDeletedHash}"), overwrite: true, cancellationToken);
    }

    public async Task<(IReadOnlyList<string> Vaults, string? ETag)> ReadStagingVaultsAsync(string organizationId, CancellationToken cancellationToken)
    {
        await containerCreation.EnsureCreatedAsync();
        try
        {
            var content = await container.GetBlobClient($"{organizationId}/{StagingVaultsName}").DownloadContentAsync(cancellationToken);
            var vaults = content.Value.Content.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            return (vaults, content.Value.Details.ETag.ToString());
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return ([], null);
        }
    }

    public async Task<string?> TryWriteStagingVaultsAsync(string organizationId, IReadOnlyCollection<string> vaults, string? etag, CancellationToken cancellationToken)
    {
        await containerCreation.EnsureCreatedAsync();
        var conditions = etag is null ? new BlobRequestConditions { IfNoneMatch = ETag.All } : new BlobRequestConditions { IfMatch = new ETag(etag) };
        try
        {
            var written = await container.GetBlobClient($"{organizationId}/{StagingVaultsName}")
                .UploadAsync(BinaryData.FromString(string.Join('\n', vaults)), new BlobUploadOptions { Conditions = conditions }, cancellationToken);
            return written.Value.ETag.ToString();
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            return null;
        }
    }

    private static string SegmentName(string organizationId, string segment) => $"{organizationId}/{segment}{SegmentSuffix}";
}
