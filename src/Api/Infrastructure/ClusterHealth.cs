using Azure.Storage.Blobs;
using Microsoft.Extensions.Options;
using VaultGrains.Hosting;

namespace VaultGrains.Api;

/// <summary>
/// Whether this front end can reach the cluster (a silo answers) and the storage account. Each
/// probe is bounded by a short timeout and its answer reused for a second, so probes never pile up.
/// </summary>
internal sealed class ClusterHealth(IClusterClient client, IOptions<StorageOptions> storage, TimeProvider clock)
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ReuseFor = TimeSpan.FromSeconds(1);
    private readonly BlobServiceClient blobs = storage.Value.CreateBlobServiceClient();
    private readonly SemaphoreSlim gate = new(1, 1);
    private (bool Cluster, bool Storage) last;
    private DateTimeOffset lastAt = DateTimeOffset.MinValue;

    public async Task<(bool Cluster, bool Storage)> CheckAsync(CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (clock.GetUtcNow() - lastAt < ReuseFor)
            {
                return last;
            }

            // A directory lookup crosses the gateway and the silos without touching storage
            // (GetHosts would re-read the membership table), so a storage outage is not
            // mistaken for a cluster outage.
            var cluster = ProbeAsync(ct => client.GetGrain<IManagementGrain>(0).GetActivationAddress(client.GetGrain<IOrganizationDirectoryGrain>(0)).AsTask().WaitAsync(ct));
            var storageProbe = ProbeAsync(ct => blobs.GetBlobContainerClient(storage.Value.VaultContainer).ExistsAsync(ct));
            last = (await cluster, await storageProbe);
            lastAt = clock.GetUtcNow();
            return last;
        }
        finally
        {
            gate.Release();
        }
    }

    private static async Task<bool> ProbeAsync(Func<CancellationToken, Task> probe)
    {
        using var timeout = new CancellationTokenSource(ProbeTimeout);
        try
        {
            await probe(timeout.Token);
            return true;
        }
        catch (Exception)
        {
            return false;
        }
    }
}
