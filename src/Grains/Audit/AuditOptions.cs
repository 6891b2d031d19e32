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
}
