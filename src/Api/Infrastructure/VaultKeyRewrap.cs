using System.Text.Json.Serialization;

namespace VaultGrains.Api;

/// <summary>
/// The operator's re-wrap walk: every organization, every vault, <see cref="IVaultGrain.Rewrap"/>
/// with bounded parallelism. Idempotent, so an interrupted walk is simply run again.
/// </summary>
internal static class VaultKeyRewrap
{
    /// <summary>Vaults re-wrapped at once: each costs one unwrap and one wrap at the key service.</summary>
    public const int Parallelism = 8;

    public static async Task<RewrapCounts> RunAsync(IGrainFactory grains, ILogger logger, CancellationToken cancellationToken)
    {
        const int Rewrapped = 0, Current = 1, Failed = 2, NotFound = 3;
        var counts = new int[4];
        var seen = 0;
        var options = new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(VaultIdsAsync(grains), options, async (vaultId, _) =>
        {
            RewrapOutcome outcome;
            try
            {
                outcome = await grains.ReferenceTo<IVaultGrain>(vaultId).Rewrap();
            }
            catch (Exception e) when (ErrorBoundary.IsTransient(e))
            {
                outcome = new RewrapOutcome(false, null, VaultError.Unavailable);
            }

            var counter = outcome switch
            {
                { Rewrapped: true } => Rewrapped,
                { Error: VaultError.None } => Current,
                { Error: VaultError.VaultNotFound } => NotFound,
                _ => Failed,
            };
            Interlocked.Increment(ref counts[counter]);
            if (outcome is { Rewrapped: false, Error: not (VaultError.None or VaultError.VaultNotFound) })
            {
                logger.LogWarning("Vault {VaultId} not re-wrapped: {Error}", vaultId, outcome.Error);
            }

            if (Interlocked.Increment(ref seen) % 500 == 0)
            {
                logger.LogInformation("Re-wrap: {Seen} vaults seen, {Rewrapped} re-wrapped, {Failed} failed so far", seen, counts[Rewrapped], counts[Failed]);
            }
        });
        var result = new RewrapCounts(seen, counts[Rewrapped], counts[Current], counts[Failed], counts[NotFound]);
        logger.LogInformation("Re-wrap done: {Counts}", result);
        return result;
    }

    private static async IAsyncEnumerable<string> VaultIdsAsync(IGrainFactory grains)
    {
        foreach (var organizationId in await grains.GetGrain<IOrganizationDirectoryGrain>(0).List())
        {
            foreach (var vaultId in await grains.ReferenceTo<IOrganizationGrain>(organizationId).GetVaultIds())
            {
                yield return vaultId;
            }
        }
    }
}

/// <summary>The outcome of a re-wrap walk. <c>failed</c> vaults keep their old key and are retried by the next walk.</summary>
public sealed record RewrapCounts(
    [property: JsonPropertyName("vaults_seen")] int VaultsSeen,
    [property: JsonPropertyName("rewrapped")] int Rewrapped,
    [property: JsonPropertyName("already_current")] int AlreadyCurrent,
    [property: JsonPropertyName("failed")] int Failed,
    [property: JsonPropertyName("not_found")] int NotFound);
