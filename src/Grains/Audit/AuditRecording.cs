namespace VaultGrains.Grains.Audit;

/// <summary>How grains other than the vault (which appends a whole batch at once) record one change.</summary>
internal static class AuditRecording
{
    /// <summary>Records one event of the calling request's actor; <see cref="VaultError.AuditUnavailable"/> when the trail did not take it.</summary>
    public static async Task<VaultError> RecordAsync(this IGrainFactory grains, string organizationId, string action, int status, AuditResource resource)
    {
        var entry = new AuditEntry(AuditActor.Current, action, AuditEntry.Success, status, resource);
        try
        {
            return await grains.ReferenceTo<IAuditTrailGrain>(organizationId).Append([entry]);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return VaultError.AuditUnavailable;
        }
    }
}
