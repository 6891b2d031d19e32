namespace VaultGrains.Grains.Audit;

/// <summary>The audit trail's settings (section <c>Audit</c>).</summary>
public sealed class AuditOptions
{
    public const string Section = "Audit";

    /// <summary>
    /// Off only to measure what the trail costs (./bench.sh): with it off, changes are made with no
    /// record at all. Production keeps the default.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How long events are kept; older segments are deleted whole (default 400 days).</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(400);

    /// <summary>A segment is closed and a new one started past this size (default 4 MiB: a query reads at most one segment too many).</summary>
    public int SegmentBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// How long a vault's events wait to be written to the chain with others (default 1 s). They are
    /// already durable in the vault's own log, so this costs no change any latency; it makes the
    /// chain one append per organization per interval instead of one per batch. Queries and
    /// verification write what waits first. Zero writes at once.
    /// </summary>
    public TimeSpan WriteDelay { get; set; } = TimeSpan.FromSeconds(1);
}
