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

    /// <summary>
    /// The round of a row of this comparison, from its target ("service, trail on #2"; a row without
    /// a number is round 1); null for a row of the other phase or of another run.
    /// </summary>
    public int? RoundOf(string target, bool on)
    {
        var phase = on ? OnTarget : OffTarget;
        if (target == phase)
        {
            return 1;
        }

        return target.StartsWith(phase + " #", StringComparison.Ordinal) && int.TryParse(target.AsSpan(phase.Length + 2), NumberStyles.None, CultureInfo.InvariantCulture, out var round)
            ? round
            : null;
    }
}

/// <summary>
/// What a switchable feature costs, from one run's rows of the same scenarios against the service
/// with it on and after a restart with it off. The machine is shared and its speed drifts by tens of
/// percent within minutes, so a run alternates the two in rounds (on, off, then off, on: a drift
/// that is steady across the run weighs on both alike) and compares what the rounds add up to.
/// </summary>
internal sealed record SwitchFigures(
    [property: JsonIgnore] BenchSwitch Switch,
    [property: JsonPropertyName("scenarios")] IReadOnlyList<SwitchComparison> Scenarios,
    [property: JsonPropertyName("tolerance")] double Tolerance,
    [property: JsonPropertyName("goal")] string Goal)
{
    public static SwitchFigures? From(BenchSwitch feature, IReadOnlyList<ResultRow> rows)
    {
        var comparisons = rows.Where(r => feature.RoundOf(r.Target, on: true) is not null)
            .GroupBy(r => r.Id)
            .Select(on => SwitchComparison.From(feature, on.ToList(), rows.Where(r => r.Id == on.Key && feature.RoundOf(r.Target, on: false) is not null).ToList()))
            .OfType<SwitchComparison>()
            .ToList();
        return comparisons.Count == 0
            ? null
            : new SwitchFigures(feature, comparisons, feature.Tolerance, $"with {feature.Phrase} on, throughput >= {1 - feature.Tolerance:P0} of the same run with it off (all rounds together)");
    }

    [JsonIgnore]
    public string Headline =>
        $"{Switch.Name} cost (the same scenarios on a silo with {Switch.Phrase} on, and restarted with {Switch.Setting}, in {Rounds} round(s) of alternating order; req/s and CPU over all rounds; ratio: on ÷ off):";

    private int Rounds => Scenarios.Max(c => c.RoundRatios.Count);

    public string Render()
    {
        var l = Switch.Label;
        // Appends are counted only where the run watched the audit container (./bench.sh audit).
        var appends = Scenarios.Any(c => c.OnAppends is not null);
        var text = new StringBuilder();
        text.AppendLine($"| # | Scenario | {l} on req/s | {l} off req/s | on ÷ off | each round | p50 ms on / off | p99 ms on / off | CPU µs/request on / off (silo+api+azurite) |{(appends ? " appends per 1,000 creates (on / off) |" : "")} {Switch.Within} |");
        text.AppendLine($"|---|---|---:|---:|---:|---|---:|---:|---:|{(appends ? "---:|" : "")}---|");
        foreach (var c in Scenarios)
        {
            var appended = appends ? $" {PerThousand(c.OnAppendsPerThousand, c.OnAppends, c.OnCreates)} / {PerThousand(c.OffAppendsPerThousand, c.OffAppends, c.OffCreates)} |" : "";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {c.Id} | {c.Scenario} | {c.OnThroughput:N0} | {c.OffThroughput:N0} | {Table.Percent(c.ThroughputRatio)} | {string.Join(", ", c.RoundRatios.Select(Table.Percent))} | {Table.Ms(c.OnP50)} / {Table.Ms(c.OffP50)} | {Table.Ms(c.OnP99)} / {Table.Ms(c.OffP99)} | {Number(c.OnCpuPerRequest)} / {Number(c.OffCpuPerRequest)} |{appended} {(c.WithinTolerance ? "yes" : "NO")} |");
        }

        return text.ToString();
    }

    private static string Number(double? value) => value is { } v ? v.ToString("F0", CultureInfo.InvariantCulture) : "-";

    private static string PerThousand(double? perThousand, long? appends, long? creates) =>
        perThousand is { } p ? string.Create(CultureInfo.InvariantCulture, $"{p:F1} ({appends:N0} for {creates:N0})") : "-";
}

/// <summary>One scenario with the feature on and off, over every round of the run.</summary>
internal sealed record SwitchComparison(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("scenario")] string Scenario,
    [property: JsonPropertyName("on_requests_per_second")] double OnThroughput,
    [property: JsonPropertyName("off_requests_per_second")] double OffThroughput,
    [property: JsonPropertyName("throughput_ratio")] double ThroughputRatio,
    [property: JsonPropertyName("round_ratios")] IReadOnlyList<double> RoundRatios,
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
    /// <summary>
    /// The rounds' rows as one comparison: throughput is every round's successful requests over
    /// every round's measured seconds, CPU is weighted by requests, latencies are the rounds' mean.
    /// Within tolerance when "on" reaches (1 - tolerance) of "off" over all rounds.
    /// </summary>
    public static SwitchComparison? From(BenchSwitch feature, IReadOnlyList<ResultRow> on, IReadOnlyList<ResultRow> off)
    {
        if (on.Count == 0 || off.Count == 0)
        {
            return null;
        }

        var onThroughput = Pooled(on);
        var offThroughput = Pooled(off);
        var ratio = offThroughput > 0 ? onThroughput / offThroughput : double.NaN;
        var roundRatios = on
            .Select(o => (Round: feature.RoundOf(o.Target, on: true), On: o))
            .Select(p => (p.On, Off: off.FirstOrDefault(f => feature.RoundOf(f.Target, on: false) == p.Round)))
            .Where(p => p.Off is { Throughput: > 0 })
            .Select(p => Math.Round(p.On.Throughput / p.Off!.Throughput, 4))
            .ToList();
        return new(
            on[0].Id, on[0].Scenario, onThroughput, offThroughput, ratio, roundRatios, ratio >= 1 - feature.Tolerance,
            Math.Round(on.Average(r => r.P50), 2), Math.Round(off.Average(r => r.P50), 2), Math.Round(on.Average(r => r.P99), 2), Math.Round(off.Average(r => r.P99), 2),
            ServiceCpu(on), ServiceCpu(off),
            Sum(on, r => r.AuditAppends), Sum(on, r => r.AuditCreates), PerThousand(on), Sum(off, r => r.AuditAppends), Sum(off, r => r.AuditCreates), PerThousand(off));
    }

    private static double Pooled(IReadOnlyList<ResultRow> rows)
    {
        var seconds = rows.Sum(r => r.WindowSeconds);
        return seconds > 0 ? Math.Round(rows.Sum(r => (double)r.Ok) / seconds, 1) : rows.Average(r => r.Throughput);
    }

    // The service's processes only: the load generator and other tenants of the machine are not its cost.
    private static double? ServiceCpu(IReadOnlyList<ResultRow> rows)
    {
        string[] processes = ["silo", "api", "azurite"];
        var measured = rows.Where(r => processes.Any(r.CpuPerRequest.ContainsKey) && r.Ok > 0).ToList();
        return measured.Count == 0
            ? null
            : Math.Round(measured.Sum(r => r.Ok * processes.Sum(p => r.CpuPerRequest.GetValueOrDefault(p))) / measured.Sum(r => (double)r.Ok), 1);
    }

    private static long? Sum(IReadOnlyList<ResultRow> rows, Func<ResultRow, long?> value) =>
        rows.All(r => value(r) is null) ? null : rows.Sum(r => value(r) ?? 0);

    private static double? PerThousand(IReadOnlyList<ResultRow> rows) =>
        (Sum(rows, r => r.AuditAppends), Sum(rows, r => r.AuditCreates)) is ({ } appends, > 0 and var creates) ? Math.Round(appends * 1000.0 / creates, 2) : null;
}
