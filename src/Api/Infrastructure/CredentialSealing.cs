using System.Text.Json.Serialization;

namespace VaultGrains.Api;

/// <summary>
/// The one-time sealing at upgrade: every organization's listed API keys and runtimes get a seal if they
/// have none. Run while the silos accept unsealed records (<c>Integrity:AcceptUnsealedRecords=true</c>),
/// then remove that setting. Idempotent, so an interrupted walk is simply run again.
/// </summary>
internal static class CredentialSealing
{
    private const int Parallelism = 8;

    public static async Task<SealCounts> RunAsync(IGrainFactory grains, ILogger logger, CancellationToken cancellationToken)
    {
        int apiKeys = 0, runtimes = 0, failed = 0;
        var options = new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken };
        foreach (var organizationId in await grains.GetGrain<IOrganizationDirectoryGrain>(0).List())
        {
            var records = await grains.ReferenceTo<IOrganizationGrain>(organizationId).GetCredentialRecords();
            var work = records.ApiKeyHashes.Select(hash => (Func<Task<bool>>)(() => grains.ReferenceTo<IApiKeyGrain>(hash).SealIfUnsealed()))
                .Concat(records.RuntimeIds.Select(id => (Func<Task<bool>>)(() => grains.ReferenceTo<IRuntimeGrain>(id).SealIfUnsealed())))
                .Select((seal, index) => (Seal: seal, IsApiKey: index < records.ApiKeyHashes.Count));
            await Parallel.ForEachAsync(work, options, async (item, _) =>
            {
                try
                {
                    if (await item.Seal())
                    {
                        Interlocked.Increment(ref item.IsApiKey ? ref apiKeys : ref runtimes);
                    }
                }
                catch (Exception e) when (ErrorBoundary.IsTransient(e) || e is InvalidOperationException)
                {
                    Interlocked.Increment(ref failed);
                    logger.LogWarning("Organization {OrganizationId}: a credential record was not sealed ({Error}); run the sealing again", organizationId, e.GetType().Name);
                }
            });
        }

        return new SealCounts(apiKeys, runtimes, failed);
    }
}

/// <summary>What the sealing walk did.</summary>
public sealed record SealCounts(
    [property: JsonPropertyName("api_keys_sealed")] int ApiKeysSealed,
    [property: JsonPropertyName("runtimes_sealed")] int RuntimesSealed,
    [property: JsonPropertyName("failed")] int Failed);
