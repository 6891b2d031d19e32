using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;

namespace VaultGrains.Bench.Load;

/// <summary>
/// A feature with an off switch whose cost <c>./bench.sh audit</c> (<c>telemetry</c>) measures: the same scenarios
/// against the service as shipped (phase "&lt;Label&gt; on") and after a restart of silo and API
/// with <see cref="Setting"/> (phase "&lt;Label&gt; off"), in one run.
/// </summary>
internal sealed record BenchSwitch(string Name, string Phrase, string Label, string Setting, double Tolerance)
{
    public static readonly BenchSwitch Audit = new("Audit trail", "the audit trail", "trail", "Audit__Enabled=false", 0.10);

    public static readonly BenchSwitch Telemetry = new("Telemetry", "telemetry", "telemetry", "Telemetry__Enabled=false", 0.05);

    public static IReadOnlyList<BenchSwitch> All { get; } = [Audit, Telemetry];

    public string OnTarget => $"service, {Label} on";

    public string OffTarget => $"service, {Label} off";

    public string Within => $"within {Tolerance * 100:F0} %";
}

/// <summary>
/// What a switchable feature costs, from one run's rows of the same scenarios against the service
/// with it on and after a restart with it off. Compare within a run: the machine is shared, so
/// only the ratio means much.
/// </summary>
internal sealed record SwitchFigures(
    [property: JsonIgnore] BenchSwitch Switch,
    [property: JsonPropertyName("scenarios")] IReadOnlyList<SwitchComparison> Scenarios,
    [property: JsonPropertyName("tolerance")] double Tolerance,
    [property: JsonPropertyName("goal")] string Goal)
{
    public static SwitchFigures? From(BenchSwitch feature, IReadOnlyList<ResultRow> rows)
    {
        var pairs = rows.Where(r => r.Target == feature.OnTarget)
            .Select(on => (On: on, Off: rows.FirstOrDefault(r => r.Target == feature.OffTarget && r.Id == on.Id)))
            .Where(p => p.Off is not null)
            .Select(p => SwitchComparison.From(feature, p.On, p.Off!))
            .ToList();
        return pairs.Count == 0
            ? null
            : new SwitchFigures(feature, pairs, feature.Tolerance, $"with {feature.Phrase} on, throughput >= {1 - feature.Tolerance:P0} of the same run with it off");
    }

    [JsonIgnore]
    public string Headline =>
        $"{Switch.Name} cost (the same scenarios on a silo with {Switch.Phrase} on, then restarted with {Switch.Setting}; ratio: on ÷ off):";

    public string Render()
    {
        var l = Switch.Label;
        // Appends are counted only where the run watched the audit container (./bench.sh audit).
        var appends = Scenarios.Any(c => c.OnAppends is not null);
        var text = new StringBuilder();
        text.AppendLine($"| # | Scenario | {l} on req/s | {l} off req/s | on ÷ off | p50 ms on / off | p99 ms on / off | CPU µs/request on / off (silo+api+azurite) |{(appends ? " appends per 1,000 creates (on / off) |" : "")} {Switch.Within} |");
        text.AppendLine($"|---|---|---:|---:|---:|---:|---:|---:|{(appends ? "---:|" : "")}---|");
        foreach (var c in Scenarios)
        {
            var appended = appends ? $" {PerThousand(c.OnAppendsPerThousand, c.OnAppends, c.OnCreates)} / {PerThousand(c.OffAppendsPerThousand, c.OffAppends, c.OffCreates)} |" : "";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {c.Id} | {c.Scenario} | {c.OnThroughput:N0} | {c.OffThroughput:N0} | {Table.Percent(c.ThroughputRatio)} | {Table.Ms(c.OnP50)} / {Table.Ms(c.OffP50)} | {Table.Ms(c.OnP99)} / {Table.Ms(c.OffP99)} | {Number(c.OnCpuPerRequest)} / {Number(c.OffCpuPerRequest)} |{appended} {(c.WithinTolerance ? "yes" : "NO")} |");
        }

        return text.ToString();
    }

    private static string Number(double? value) => value is { } v ? v.ToString("F0", CultureInfo.InvariantCulture) : "-";

    private static string PerThousand(double? perThousand, long? appends, long? creates) =>
        perThousand is { } p ? string.Create(CultureInfo.InvariantCulture, $"{p:F1} ({appends:N0} for {creates:N0})") : "-";
}

/// <summary>One scenario with the feature on and off.</summary>
internal sealed record SwitchComparison(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("scenario")] string Scenario,
    [property: JsonPropertyName("on_requests_per_second")] double OnThroughput,
    [property: JsonPropertyName("off_requests_per_second")] double OffThroughput,
    [property: JsonPropertyName("throughput_ratio")] double ThroughputRatio,
    [property: JsonPropertyName("within_tolerance")] bool WithinTolerance,
    [property: JsonPropertyName("on_p50_ms")] double OnP50,
    [property: JsonPropertyName("off_p50_ms")] double OffP50,
    [property: JsonPropertyName("on_p99_ms")] double OnP99,
    [property: JsonPropertyName("off_p99_ms")] double OffP99,
    [property: JsonPropertyName("on_cpu_us_per_request")] double? OnCpuPerRequest,
    [property: JsonPropertyName("off_cpu_us_per_request")] double? OffCpuPerRequest,
    [property: JsonPropertyName("on_appends"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? OnAppends,
    [property: JsonPropertyName("on_creates"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? OnCreates,
    [property: JsonPropertyName("on_appends_per_1000_creates"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? OnAppendsPerThousand,
    [property: JsonPropertyName("off_appends"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? OffAppends,
    [property: JsonPropertyName("off_creates"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? OffCreates,
    [property: JsonPropertyName("off_appends_per_1000_creates"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? OffAppendsPerThousand)
{
    /// <summary>The pair of rows as one comparison; within tolerance when "on" reaches (1 - tolerance) of "off".</summary>
    public static SwitchComparison From(BenchSwitch feature, ResultRow on, ResultRow off)
    {
        var ratio = off.Throughput > 0 ? on.Throughput / off.Throughput : double.NaN;
        return new(
            on.Id, on.Scenario, on.Throughput, off.Throughput, ratio, ratio >= 1 - feature.Tolerance,
            on.P50, off.P50, on.P99, off.P99, ServiceCpu(on), ServiceCpu(off),
            on.AuditAppends, on.AuditCreates, PerThousand(on), off.AuditAppends, off.AuditCreates, PerThousand(off));
    }

    // The service's processes only: the load generator and other tenants of the machine are not its cost.
    private static double? ServiceCpu(ResultRow row)
    {
        var parts = new[] { "silo", "api", "azurite" }.Where(row.CpuPerRequest.ContainsKey).ToArray();
        return parts.Length == 0 ? null : Math.Round(parts.Sum(p => row.CpuPerRequest[p]), 1);
    }

    private static double? PerThousand(ResultRow row) =>
        row is { AuditAppends: { } appends, AuditCreates: > 0 and var creates } ? Math.Round(appends * 1000.0 / creates, 2) : null;
}
