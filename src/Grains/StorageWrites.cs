using Microsoft.Extensions.Logging;

namespace VaultGrains.Grains;

/// <summary>The one rule for a failed write of a grain's state (the vault's group commit has its own, stricter one).</summary>
internal static class StorageWrites
{
    /// <summary>
    /// Writes the state. On failure the write's outcome is unknown and memory no longer matches
    /// storage, so the state is read back; if even that fails, <paramref name="deactivate"/> lets the
    /// next activation read it.
    /// </summary>
    public static async Task<bool> TryWriteOrReloadAsync<T>(this IPersistentState<T> storage, ILogger logger, string grain, Action deactivate)
    {
        try
        {
            await storage.WriteStateAsync();
            return true;
        }
        catch (Exception e)
        {
            logger.LogWarning("{Grain} write failed: {Error}", grain, e.GetType().Name);
            try
            {
                await storage.ReadStateAsync();
            }
            catch (Exception)
            {
                deactivate();
                throw;
            }

            return false;
        }
    }
}
