using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using Microsoft.Extensions.Logging.Abstractions;
using VaultGrains.Grains.Vaults;
using VaultGrains.Hosting;
using VaultGrains.Tests.Infrastructure;
using static VaultGrains.Tests.Grains.Vaults.VaultLogTests;

namespace VaultGrains.Tests.Grains.Vaults;

/// <summary>The vault log on the real Azurite: the append-position guard, SDK retries, torn and damaged blobs, compaction under load.</summary>
public sealed class VaultLogStorageTests
{
    private readonly StorageOptions storage = TestStorage.NewStorage();
    private readonly string vaultId = VaultGrains.Domain.ResourceId.New(VaultGrains.Domain.ResourceId.Vault);

    private BlobContainerClient Container => new BlobServiceClient(storage.ConnectionString).GetBlobContainerClient(storage.VaultContainer);

    [Fact]
    public Task Two_activations_on_Azurite_never_both_acknowledge_conflicting_writes() => OnVaultScheduler(async () =>
    {
        var store = new BlobVaultLogStore(Container);
        await CreateVaultAsync(await OpenAsync(store));
        var first = await OpenAsync(store);
        var second = await OpenAsync(store);

        var replies = await Task.WhenAll(AddAsync(first, "RACE", "first"), AddAsync(second, "RACE", "second"));

        Assert.Single(replies, reply => reply == VaultError.None);
        Assert.Single(replies, reply => reply == VaultError.Unavailable);
        var winner = replies[0] == VaultError.None ? first : second;
        var stored = await OpenAsync(store);
        Assert.Equal(["RACE"], EnvKeys(stored));
        Assert.Equal(winner.Confirmed.State.Secrets.Single().Id, stored.Confirmed.State.Secrets.Single().Id);
    });

    [Fact]
    public Task An_SDK_retry_of_an_append_that_landed_is_refused_by_Azurite_and_the_change_is_stored_once() => OnVaultScheduler(async () =>
    {
        var store = new RetryingStore(new BlobVaultLogStore(Container));
        var log = await OpenAsync(store);
        await CreateVaultAsync(log);
        store.RetryNextAppend = true;

        Assert.Equal(VaultError.Unavailable, await AddAsync(log, "LANDED"));

        var next = await OpenAsync(store);
        Assert.Equal(["LANDED"], EnvKeys(next));
        Assert.Equal(VaultError.None, await AddAsync(next, "AFTER"));
        var head = (await store.ReadHeadAsync(vaultId, CancellationToken.None))!;
        var frames = VaultLogFormat.Read(vaultId, await store.ReadLogAsync(vaultId, head.Log, CancellationToken.None)).Frames;
        Assert.Equal([VaultLogRecordKind.Checkpoint, VaultLogRecordKind.Batch, VaultLogRecordKind.Batch], frames.Select(f => f.Kind));
    });

    [Fact]
    public Task A_torn_tail_in_an_Azurite_blob_is_ignored_and_the_log_goes_on_after_it() => OnVaultScheduler(async () =>
    {
        var store = new BlobVaultLogStore(Container);
        var log = await OpenAsync(store);
        await CreateVaultAsync(log);
        Assert.Equal(VaultError.None, await AddAsync(log, "KEPT"));
        var torn = VaultLogFormat.Encode(vaultId, VaultLogRecordKind.Batch, log.Cursor.NextSequence, new byte[600]);
        var blob = Container.GetAppendBlobClient(BlobVaultLogStore.LogName(vaultId, log.Cursor.Log!));
        await blob.AppendBlockAsync(new MemoryStream(torn, 0, 300));

        var next = await OpenAsync(store);
        Assert.Equal(["KEPT"], EnvKeys(next));
        Assert.Equal(VaultError.None, await AddAsync(next, "AFTER_TEAR"));
        Assert.Equal(["AFTER_TEAR", "KEPT"], EnvKeys(await OpenAsync(store)));
    });

    [Fact]
    public Task Compaction_under_load_on_Azurite_loses_nothing() => OnVaultScheduler(async () =>
    {
        var store = new BlobVaultLogStore(Container);
        var options = new VaultLogOptions { CompactAfterRecords = 5 };
        var log = await OpenAsync(store, options);
        await CreateVaultAsync(log);
        var replies = new List<Task<VaultError>>();
        for (var i = 0; i < 300; i++)
        {
            log.Tentative.Add(Secret($"LOAD_{i:D3}"));
            replies.Add(log.CommitAsync());
            if (i % 10 == 9)
            {
                // Thirty batch boundaries or more, with the last five creates still in flight at each.
                await replies[^6];
            }
        }

        Assert.All(await Task.WhenAll(replies), reply => Assert.Equal(VaultError.None, reply));
        Assert.True(log.Cursor.Generation > 3, $"only {log.Cursor.Generation} compactions");
        Assert.Single(await store.ListLogsAsync(vaultId, CancellationToken.None));
        var stored = await OpenAsync(store, options);
        Assert.Equal(Enumerable.Range(0, 300).Select(i => $"LOAD_{i:D3}"), EnvKeys(stored));
    });

    private async Task<VaultLog> OpenAsync(IVaultLogStore store, VaultLogOptions? options = null)
    {
        var log = new VaultLog(vaultId, store, new VaultLogCodec(Serializer), options ?? new VaultLogOptions(), new Hooks(), NullLogger.Instance);
        await log.LoadAsync(CancellationToken.None);
        return log;
    }

    /// <summary>Sends an append twice, as the SDK's retry policy does when the first answer is lost.</summary>
    private sealed class RetryingStore(IVaultLogStore inner) : DelegatingVaultLogStore(inner)
    {
        public bool RetryNextAppend { get; set; }

        public override async Task AppendAsync(string vaultId, string log, long position, ReadOnlyMemory<byte> record, CancellationToken cancellationToken)
        {
            await Inner.AppendAsync(vaultId, log, position, record, cancellationToken);
            if (RetryNextAppend)
            {
                RetryNextAppend = false;
                await Inner.AppendAsync(vaultId, log, position, record, cancellationToken);
            }
        }
    }
}
