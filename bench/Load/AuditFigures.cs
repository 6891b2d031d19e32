using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;

namespace VaultGrains.Bench.Load;

/// <summary>
/// What the audit trail costs, from one run's rows of the same scenarios against the service with
/// the trail on ("service, trail on") and after a restart with it off ("service, trail off").
/// Compare within a run: the machine is shared, so only the ratio means much.
/// </summary>
internal sealed record AuditFigures(
    [property: JsonPropertyName("scenarios")] IReadOnlyList<AuditComparison> Scenarios,
    [property: JsonPropertyName("goal")] string Goal)
{
    public const string OnTarget = "service, trail on";
    public const string OffTarget = "service, trail off";
    public const double Tolerance = 0.10;

    public static AuditFigures? From(IReadOnlyList<ResultRow> rows)
    {
        var pairs = rows.Where(r => r.Target == OnTarget)
            .Select(on => (On: on, Off: rows.FirstOrDefault(r => r.Target == OffTarget && r.Id == on.Id)))
            .Where(p => p.Off is not null)
            .Select(p => AuditComparison.From(p.On, p.Off!))
            .ToList();
        return pairs.Count == 0 ? null : new AuditFigures(pairs, $"with the trail on, throughput >= {1 - Tolerance:P0} of the same run with it off");
    }

    public string Render()
    {
        var text = new StringBuilder();
        text.AppendLine("| # | Scenario | trail on req/s | trail off req/s | on ÷ off | p50 ms on / off | p99 ms on / off | CPU µs/request on / off (silo+api+azurite) | appends per 1,000 creates (on / off) | within 10 % |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var c in Scenarios)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {c.Id} | {c.Scenario} | {c.OnThroughput:N0} | {c.OffThroughput:N0} | {Table.Percent(c.ThroughputRatio)} | {Table.Ms(c.OnP50)} / {Table.Ms(c.OffP50)} | {Table.Ms(c.OnP99)} / {Table.Ms(c.OffP99)} | {Number(c.OnCpuPerRequest)} / {Number(c.OffCpuPerRequest)} | {PerThousand(c.OnAppendsPerThousand, c.OnAppends, c.OnCreates)} / {PerThousand(c.OffAppendsPerThousand, c.OffAppends, c.OffCreates)} | {(c.WithinTolerance ? "yes" : "NO")} |");
        }

        return text.ToString();
    }

    private static string Number(double? value) => value is { } v ? v.ToString("F0", CultureInfo.InvariantCulture) : "-";

    private static string PerThousand(double? perThousand, long? appends, long? creates) =>
        perThousand is { } p ? string.Create(CultureInfo.InvariantCulture, $"{p:F1} ({appends:N0} for {creates:N0})") : "-";
}

/// <summary>One scenario with the trail on and off.</summary>
internal sealed record AuditComparison(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("scenario")] string Scenario,
    [property: JsonPropertyName("on_requests_per_second")] double OnThroughput,
    [property: JsonPropertyName("off_requests_per_second")] double OffThroughput,
    [property: JsonPropertyName("throughput_ratio")] double ThroughputRatio,
    [property: JsonPropertyName("on_p50_ms")] double OnP50,
    [property: JsonPropertyName("off_p50_ms")] double OffP50,
    [property: JsonPropertyName("on_p99_ms")] double OnP99,
    [property: JsonPropertyName("off_p99_ms")] double OffP99,
    [property: JsonPropertyName("on_cpu_us_per_request")] double? OnCpuPerRequest,
    [property: JsonPropertyName("off_cpu_us_per_request")] double? OffCpuPerRequest,
    [property: JsonPropertyName("on_appends")] long? OnAppends,
    [property: JsonPropertyName("on_creates")] long? OnCreates,
    [property: JsonPropertyName("on_appends_per_1000_creates")] double? OnAppendsPerThousand,
    [property: JsonPropertyName("off_appends")] long? OffAppends,
    [property: JsonPropertyName("off_creates")] long? OffCreates,
    [property: JsonPropertyName("off_appends_per_1000_creates")] double? OffAppendsPerThousand)
{
    /// <summary>Throughput with the trail on is at least 90 % of the throughput with it off.</summary>
    [JsonPropertyName("within_10_percent")]
    public bool WithinTolerance => ThroughputRatio >= 1 - AuditFigures.Tolerance;

    public static AuditComparison From(ResultRow on, ResultRow off) => new(
        on.Id, on.Scenario, on.Throughput, off.Throughput, off.Throughput > 0 ? on.Throughput / off.Throughput : double.NaN,
        on.P50, off.P50, on.P99, off.P99, ServiceCpu(on), ServiceCpu(off),
        on.AuditAppends, on.AuditCreates, PerThousand(on), off.AuditAppends, off.AuditCreates, PerThousand(off));

    // The service's processes only: the load generator and other tenants of the machine are not its cost.
    private static double? ServiceCpu(ResultRow row)
    {
        var parts = new[] { "silo", "api", "azurite" }.Where(row.CpuPerRequest.ContainsKey).ToArray();
        return parts.Length == 0 ? null : Math.Round(parts.Sum(p => row.CpuPerRequest[p]), 1);
    }

    private static double? PerThousand(ResultRow row) =>
        row is { AuditAppends: { } appends, AuditCreates: > 0 and var creates } ? Math.Round(appends * 1000.0 / creates, 2) : null;
}
