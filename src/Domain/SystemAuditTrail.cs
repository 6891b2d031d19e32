namespace VaultGrains.Domain;

/// <summary>
/// The audit trail of what belongs to no organization: summaries of failed authentications that
/// cannot be attributed to one. An <c>IAuditTrailGrain</c> under <see cref="Key"/>, whose events carry
/// <c>"organization_id":null</c> and which only the operator reads (admin API). Organization ids are
/// <c>org_…</c>, so the key can never be one of theirs.
/// </summary>
public static class SystemAuditTrail
{
    public const string Key = "system";
}
