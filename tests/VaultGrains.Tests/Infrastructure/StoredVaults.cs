using System.Security.Cryptography;
using Azure.Storage.Blobs;
using Orleans.Serialization;
using VaultGrains.Grains;
using VaultGrains.Grains.Vaults;
using VaultGrains.Hosting;

namespace VaultGrains.Tests.Infrastructure;

/// <summary>
/// Vaults as stored (logs and heads in the vaults container), read and replaced the way someone
/// with access to the storage account could: for tests that look at or tamper with storage.
/// </summary>
internal sealed class StoredVaults(StorageOptions storage, Serializer serializer)
{
    public BlobContainerClient Container { get; } = new BlobServiceClient(storage.ConnectionString).GetBlobContainerClient(storage.VaultContainer);

    public IVaultLogStore Store => new BlobVaultLogStore(Container);

    public VaultLogCodec Codec { get; } = new(serializer);

    /// <summary>Every blob of the vault, concatenated in name order, or null when storage holds none.</summary>
    public async Task<byte[]?> ReadBytesAsync(string vaultId)
    {
        using var all = new MemoryStream();
        var found = false;
        await foreach (var blob in Container.GetBlobsAsync())
        {
            if (blob.Name.Contains(vaultId, StringComparison.Ordinal))
            {
                found = true;
                all.Write((await Container.GetBlobClient(blob.Name).DownloadContentAsync()).Value.Content.ToArray());
            }
        }

        return found ? all.ToArray() : null;
    }

    /// <summary>The vault's state as a new activation would read it, with every byte stored for it; null when nothing is stored.</summary>
    public async Task<(VaultState State, byte[] Raw)?> ReadAsync(string vaultId)
    {
        if (await ReadBytesAsync(vaultId) is not { } raw)
        {
            return null;
        }

        var (state, _) = await VaultLog.ReadAsync(vaultId, Store, Codec, CancellationToken.None);
        return (state, raw);
    }

    /// <summary>The ids of every vault with something stored.</summary>
    public async Task<IReadOnlyList<string>> VaultIdsAsync()
    {
        var ids = new SortedSet<string>(StringComparer.Ordinal);
        await foreach (var blob in Container.GetBlobsAsync())
        {
            ids.Add(blob.Name.Split('/')[0]);
        }

        return [.. ids];
    }

    /// <summary>Replaces the vault's state by a new log holding <paramref name="state"/>, whatever the head held.</summary>
    public async Task OverwriteAsync(string vaultId, VaultState state)
    {
        var (_, cursor) = await VaultLog.ReadAsync(vaultId, Store, Codec, CancellationToken.None);
        var log = $"{cursor.Generation + 1:D10}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        var checkpoint = VaultLogFormat.Encode(vaultId, VaultLogRecordKind.Checkpoint, cursor.NextSequence, Codec.Encode(new VaultCheckpointRecord { State = state }));
        await Store.WriteCheckpointAsync(vaultId, log, checkpoint, CancellationToken.None);
        await Container.GetBlobClient(BlobVaultLogStore.HeadName(vaultId)).UploadAsync(BinaryData.FromString(log), overwrite: true);
    }
}
