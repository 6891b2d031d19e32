using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace VaultGrains.Grains.Vaults;

/// <summary>
/// Vault logs in Azure Blob storage (Azurite locally), in the vaults container: per vault a block
/// blob <c>{vault}/head</c> holding the current log's name, and Append Blobs <c>{vault}/log-{name}</c>
/// appended with an append-position condition (the same guard the audit trail uses). Vaults of
/// earlier versions stay where Orleans' blob grain storage put them until their first write.
/// </summary>
public sealed class BlobVaultLogStore(BlobContainerClient container) : IVaultLogStore
{
    private readonly BlobContainerCreation containerCreation = new(container);

    public async Task<VaultLogHead?> ReadHeadAsync(string vaultId, CancellationToken cancellationToken)
    {
        await containerCreation.EnsureCreatedAsync();
        try
        {
            var content = (await container.GetBlobClient(HeadName(vaultId)).DownloadContentAsync(cancellationToken)).Value;
            return new VaultLogHead(content.Content.ToString(), content.Details.ETag.ToString());
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task<byte[]> ReadLogAsync(string vaultId, string log, CancellationToken cancellationToken)
    {
        try
        {
            return (await container.GetBlobClient(LogName(vaultId, log)).DownloadContentAsync(cancellationToken)).Value.Content.ToArray();
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new VaultLogCorruptException($"Vault {vaultId}'s log {log} is named but missing.");
        }
    }

    public async Task WriteCheckpointAsync(string vaultId, string log, ReadOnlyMemory<byte> checkpoint, CancellationToken cancellationToken)
    {
        await containerCreation.EnsureCreatedAsync();
        var blob = container.GetAppendBlobClient(LogName(vaultId, log));
        await Conditionally(() => blob.CreateAsync(new AppendBlobCreateOptions { Conditions = new AppendBlobRequestConditions { IfNoneMatch = ETag.All } }, cancellationToken));
        await AppendAsync(vaultId, log, 0, checkpoint, cancellationToken);
    }

    public async Task AppendAsync(string vaultId, string log, long position, ReadOnlyMemory<byte> record, CancellationToken cancellationToken)
    {
        var blob = container.GetAppendBlobClient(LogName(vaultId, log));
        for (var offset = 0; offset < record.Length; offset += VaultLogFormat.MaxAppendBytes)
        {
            var block = record.Slice(offset, Math.Min(VaultLogFormat.MaxAppendBytes, record.Length - offset));
            var at = position + offset;
            await Conditionally(() => blob.AppendBlockAsync(BinaryData.FromBytes(block).ToStream(),
                new AppendBlobAppendBlockOptions { Conditions = new AppendBlobRequestConditions { IfAppendPositionEqual = at } }, cancellationToken));
        }
    }

    public async Task<string> CreateHeadAsync(string vaultId, string log, CancellationToken cancellationToken)
    {
        await containerCreation.EnsureCreatedAsync();
        var written = await Conditionally(() => container.GetBlobClient(HeadName(vaultId)).UploadAsync(BinaryData.FromString(log),
            new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } }, cancellationToken));
        return written.Value.ETag.ToString();
    }

    public async Task<string> ReplaceHeadAsync(string vaultId, string log, string etag, CancellationToken cancellationToken)
    {
        var written = await Conditionally(() => container.GetBlobClient(HeadName(vaultId)).UploadAsync(BinaryData.FromString(log),
            new BlobUploadOptions { Conditions = new BlobRequestConditions { IfMatch = new ETag(etag) } }, cancellationToken));
        return written.Value.ETag.ToString();
    }

    public Task DeleteHeadAsync(string vaultId, CancellationToken cancellationToken) =>
        container.GetBlobClient(HeadName(vaultId)).DeleteIfExistsAsync(cancellationToken: cancellationToken);

    public Task DeleteLogAsync(string vaultId, string log, CancellationToken cancellationToken) =>
        container.GetBlobClient(LogName(vaultId, log)).DeleteIfExistsAsync(cancellationToken: cancellationToken);

    public async Task<IReadOnlyList<string>> ListLogsAsync(string vaultId, CancellationToken cancellationToken)
    {
        var prefix = LogName(vaultId, "");
        var logs = new List<string>();
        await foreach (var blob in container.GetBlobsAsync(new GetBlobsOptions { Prefix = prefix }, cancellationToken))
        {
            logs.Add(blob.Name[prefix.Length..]);
        }

        return logs;
    }

    public async Task<LegacyVaultBlob?> ReadLegacyAsync(string vaultId, CancellationToken cancellationToken)
    {
        try
        {
            var content = (await container.GetBlobClient(LegacyName(vaultId)).DownloadContentAsync(cancellationToken)).Value;
            return new LegacyVaultBlob(content.Content.ToMemory(), content.Details.ETag.ToString());
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public Task DeleteLegacyAsync(string vaultId, string etag, CancellationToken cancellationToken) =>
        Conditionally(() => container.GetBlobClient(LegacyName(vaultId)).DeleteIfExistsAsync(conditions: new BlobRequestConditions { IfMatch = new ETag(etag) }, cancellationToken: cancellationToken));

    /// <summary>Where Orleans' blob grain storage (<c>AddAzureBlobGrainStorage</c>) kept the vault grain's "vault" state.</summary>
    public static string LegacyName(string vaultId) => $"vault-vault/{vaultId}.json";

    public static string HeadName(string vaultId) => $"{vaultId}/head";

    public static string LogName(string vaultId, string log) => $"{vaultId}/log-{log}";

    private static async Task<T> Conditionally<T>(Func<Task<T>> write)
    {
        try
        {
            return await write();
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412 or 404)
        {
            throw new VaultLogConflictException($"Conditional vault log write refused ({e.Status} {e.ErrorCode}).", e);
        }
    }
}
