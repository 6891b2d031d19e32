namespace VaultGrains.Grains;

/// <summary>The grain storage providers the grains persist through; the silo registers one of each.</summary>
public static class StorageNames
{
    /// <summary>Vaults: their logs in Blob storage (<c>Vaults/BlobVaultLogStore</c>, not a grain storage provider); the name tags their storage metrics.</summary>
    public const string Vaults = "vaults";

    /// <summary>The audit trail: Append Blob segments in the audit container (<c>Audit/BlobAuditStore</c>, not a grain storage provider); the name tags its storage metrics.</summary>
    public const string Audit = "audit";

    /// <summary>Organizations and the organization directory: Blob storage (a thousand vault summaries exceed a row).</summary>
    public const string Organizations = "organizations";

    /// <summary>API key records: small, Table storage.</summary>
    public const string ApiKeys = "apikeys";

    /// <summary>Runtime records and the proxy's certificate authority: small, Table storage.</summary>
    public const string Runtimes = "runtimes";

    /// <summary>Idempotency-Key records (fingerprint, sealed seed and answer, kept 24 hours): small, Table storage.</summary>
    public const string Idempotency = "idempotency";
}
