using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;

namespace VaultGrains.Bench.Load;

/// <summary>One line of the result table: one scenario against one target.</summary>
internal sealed record ResultRow
{
    [JsonPropertyName("id")] public required string Id { get; init; }
    [JsonPropertyName("scenario")] public required string Scenario { get; init; }
    [JsonPropertyName("target")] public required string Target { get; init; }
    [JsonPropertyName("requests_per_second")] public double Throughput { get; init; }
    [JsonPropertyName("ok")] public long Ok { get; init; }
    [JsonPropertyName("errors")] public long Errors { get; init; }
    [JsonPropertyName("error_kinds")] public Dictionary<string, long> ErrorKinds { get; init; } = [];
    [JsonPropertyName("p50_ms")] public double P50 { get; init; }
    [JsonPropertyName("p90_ms")] public double P90 { get; init; }
    [JsonPropertyName("p99_ms")] public double P99 { get; init; }
    [JsonPropertyName("max_ms")] public double Max { get; init; }
    [JsonPropertyName("window_s")] public double WindowSeconds { get; init; }
    /// <summary>Service ÷ ceiling throughput, on the service's row.</summary>
    [JsonPropertyName("ratio_to_ceiling")] public double? Ratio { get; set; }
    [JsonPropertyName("notes")] public string Notes { get; init; } = "";
    /// <summary>Share of the whole machine's CPU per process during the window ("load" is the load generator).</summary>
    [JsonPropertyName("cpu_share")] public Dictionary<string, double> Cpu { get; init; } = [];
    [JsonPropertyName("machine_busy_share")] public double? MachineBusy { get; init; }
    /// <summary>CPU time per successful request, per process: less sensitive to a busy machine than throughput.</summary>
    [JsonPropertyName("cpu_us_per_request")] public Dictionary<string, double> CpuPerRequest { get; init; } = [];
    [JsonPropertyName("by_kind")] public Dictionary<string, KindFigures>? ByKind { get; init; }
    [JsonPropertyName("rounds")] public int? Rounds { get; init; }
    [JsonPropertyName("correct_rounds")] public int? CorrectRounds { get; init; }
    /// <summary>Proxy scenarios: requests the upstream received in the scenario (warm-up included), and those carrying the released value.</summary>
    [JsonPropertyName("upstream_requests"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? UpstreamRequests { get; init; }
    [JsonPropertyName("upstream_released"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? UpstreamReleased { get; init; }
    /// <summary>Proxy scenarios: requests answered 200 to the load generator in the scenario (warm-up included).</summary>
    [JsonPropertyName("agent_answered"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? AgentAnswered { get; init; }
    /// <summary>Cold proxy scenario: tunnels opened (TCP connect, CONNECT 200, then TLS).</summary>
    [JsonPropertyName("connections_opened"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? ConnectionsOpened { get; init; }
    /// <summary>Proxy scenarios: connections the upstream accepted during the scenario.</summary>
    [JsonPropertyName("upstream_connections"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? UpstreamConnections { get; init; }
    /// <summary>Audit comparison: Append Blob appends committed to the audit container during the scenario (warm-up included).</summary>
    [JsonPropertyName("audit_appends"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? AuditAppends { get; init; }
    /// <summary>Audit comparison: creates acknowledged during the scenario (warm-up included), the events those appends carry.</summary>
    [JsonPropertyName("audit_creates"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? AuditCreates { get; init; }
    /// <summary>Audit comparison: bytes added to the audit container during the scenario.</summary>
    [JsonPropertyName("audit_bytes"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? AuditBytes { get; init; }

    public static ResultRow From(string id, string scenario, string target, Measurement m, string notes) => new()
    {
        Id = id,
        Scenario = scenario,
        Target = target,
        Throughput = m.Throughput,
        Ok = m.Ok,
        Errors = m.Errors,
        ErrorKinds = m.FailureKinds,
        P50 = m.PercentileMs(50),
        P90 = m.PercentileMs(90),
        P99 = m.PercentileMs(99),
        Max = m.MaxMs,
        WindowSeconds = m.Window.TotalSeconds,
        Notes = notes,
        Cpu = m.Cpu.Processes.ToDictionary(p => p.Key, p => Math.Round(p.Value, 3)),
        MachineBusy = double.IsNaN(m.Cpu.Machine) ? null : Math.Round(m.Cpu.Machine, 3),
        CpuPerRequest = m.Ok == 0 ? [] : m.Cpu.Processes.ToDictionary(p => p.Key, p => Math.Round(p.Value * Environment.ProcessorCount * m.Window.TotalSeconds * 1e6 / m.Ok, 1)),
        ByKind = m.ByKind.Count == 0 ? null : m.ByKind.ToDictionary(k => k.Key, k => new KindFigures(k.Value.Ok / m.Window.TotalSeconds, k.Value.PercentileMs(50), k.Value.PercentileMs(99), k.Value.Errors)),
        Rounds = m.Rounds,
        CorrectRounds = m.CorrectRounds,
    };

    public string Summary() =>
        $"{Target}: {Throughput:N0} req/s, p50 {Table.Ms(P50)} p99 {Table.Ms(P99)} max {Table.Ms(Max)} ms, {Errors} errors"
        + (ErrorKinds.Count > 0 ? $" ({string.Join(", ", ErrorKinds.OrderByDescending(e => e.Value).Take(3).Select(e => $"{e.Key}: {e.Value}"))})" : "")
        + $"; cpu {new CpuShares(Cpu, MachineBusy ?? double.NaN).Describe()}"
        + $"; cpu µs/request {string.Join(" ", CpuPerRequest.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value:F0}"))}";
}

internal sealed record KindFigures(
    [property: JsonPropertyName("requests_per_second")] double Throughput,
    [property: JsonPropertyName("p50_ms")] double P50,
    [property: JsonPropertyName("p99_ms")] double P99,
    [property: JsonPropertyName("errors")] long Errors);

/// <summary>
/// What the secret proxy adds, from one run's proxy rows (compare within a run: the machine is
/// shared): a warm tunnel against direct at the same connections, the same pair at the latency
/// connections (no queueing), and a new CONNECT + TLS per request against a warm tunnel.
/// </summary>
internal sealed record ProxyFigures(
    [property: JsonPropertyName("connections")] int Connections,
    [property: JsonPropertyName("added_p50_ms")] double AddedP50,
    [property: JsonPropertyName("added_p90_ms")] double AddedP90,
    [property: JsonPropertyName("added_p99_ms")] double AddedP99,
    [property: JsonPropertyName("throughput_ratio")] double ThroughputRatio,
    [property: JsonPropertyName("latency_connections")] int LatencyConnections,
    [property: JsonPropertyName("unloaded_added_p50_ms")] double UnloadedAddedP50,
    [property: JsonPropertyName("unloaded_added_p90_ms")] double UnloadedAddedP90,
    [property: JsonPropertyName("cold_added_p50_ms")] double ColdAddedP50,
    [property: JsonPropertyName("unloaded_cold_added_p50_ms")] double UnloadedColdAddedP50,
    [property: JsonPropertyName("cold_throughput_ratio")] double ColdThroughputRatio,
    [property: JsonPropertyName("proxy_cpu_us_per_request_warm")] double? ProxyCpuWarm,
    [property: JsonPropertyName("proxy_cpu_us_per_request_cold")] double? ProxyCpuCold,
    [property: JsonPropertyName("upstream_requests_proxied")] long UpstreamRequests,
    [property: JsonPropertyName("upstream_released")] long UpstreamReleased,
    [property: JsonPropertyName("anchor")] string Anchor)
{
    public const string IstioAnchor = "an Istio sidecar adds about 2.65 ms at p90";

    /// <summary>Every request the upstream got through the proxy carried the value.</summary>
    [JsonPropertyName("every_request_released")]
    public bool EveryRequestReleased => UpstreamRequests > 0 && UpstreamReleased == UpstreamRequests;

    public static ProxyFigures? From(IReadOnlyList<ResultRow> rows)
    {
        ResultRow? Find(string id) => rows.FirstOrDefault(r => r.Id == id);
        if (Find("P1") is not { } direct || Find("P2") is not { } warm || Find("P3") is not { } cold || Find("P4") is not { } directOne || Find("P5") is not { } warmOne || Find("P6") is not { } coldOne)
        {
            return null;
        }

        ResultRow[] proxied = [warm, cold, warmOne, coldOne];
        return new ProxyFigures(
            ConnectionsOf(direct), warm.P50 - direct.P50, warm.P90 - direct.P90, warm.P99 - direct.P99, warm.Throughput / direct.Throughput,
            ConnectionsOf(directOne), warmOne.P50 - directOne.P50, warmOne.P90 - directOne.P90,
            cold.P50 - warm.P50, coldOne.P50 - warmOne.P50, cold.Throughput / warm.Throughput,
            warm.CpuPerRequest.TryGetValue("proxy", out var warmCpu) ? warmCpu : null,
            cold.CpuPerRequest.TryGetValue("proxy", out var coldCpu) ? coldCpu : null,
            proxied.Sum(r => r.UpstreamRequests ?? 0), proxied.Sum(r => r.UpstreamReleased ?? 0), IstioAnchor);
    }

    public IEnumerable<string> Describe()
    {
        yield return $"warm tunnel vs direct, {Connections} connections: p50 {Signed(AddedP50)} ms, p90 {Signed(AddedP90)} ms, p99 {Signed(AddedP99)} ms; throughput {Table.Percent(ThroughputRatio)} of direct";
        yield return $"warm tunnel vs direct, {LatencyConnections} connection(s): p50 {Signed(UnloadedAddedP50)} ms, p90 {Signed(UnloadedAddedP90)} ms (anchor: {Anchor})";
        yield return $"cold (new CONNECT + TLS per request) vs warm tunnel: p50 {Signed(UnloadedColdAddedP50)} ms at {LatencyConnections} connection(s); at {Connections} connections p50 {Signed(ColdAddedP50)} ms, throughput {Table.Percent(ColdThroughputRatio)} of warm"
            + (ProxyCpuWarm is { } warm && ProxyCpuCold is { } cold ? $"; proxy CPU {cold:F0} vs {warm:F0} µs per request" : "");
        yield return $"releases: the upstream received the value in {UpstreamReleased:N0} of {UpstreamRequests:N0} requests through the proxy — {(EveryRequestReleased ? "OK" : "NOT EVERY REQUEST")}";
    }

    private static string Signed(double ms) => (ms >= 0 ? "+" : "") + Table.Ms(ms);

    // "GET, 1 placeholder header, 64 connections" → 64.
    private static int ConnectionsOf(ResultRow row) =>
        int.TryParse(row.Scenario.Split(", ")[^1].Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var connections) ? connections : 0;
}

/// <summary>Whether what a target acknowledged is what it stores.</summary>
internal sealed record Durability(
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("how")] string How,
    [property: JsonPropertyName("vaults")] int Vaults,
    [property: JsonPropertyName("acknowledged")] long Acknowledged,
    [property: JsonPropertyName("found")] long Found,
    [property: JsonPropertyName("missing")] long Missing,
    [property: JsonPropertyName("unacknowledged_stored")] long UnacknowledgedStored,
    [property: JsonPropertyName("unknown_outcomes")] long UnknownOutcomes,
    [property: JsonPropertyName("error")] string? Error)
{
    /// <summary>Every acknowledged create is stored, and nothing else is, beyond creates whose answer was lost.</summary>
    [JsonPropertyName("ok")]
    public bool Ok => Error is null && Missing == 0 && UnacknowledgedStored <= UnknownOutcomes;

    public string Describe() => Error is { } error
        ? $"{Target}: NOT VERIFIED ({error})"
        : $"{Target}: {Found:N0} of {Acknowledged:N0} acknowledged secrets found in {Vaults:N0} vaults {How}; {Missing} missing, {UnacknowledgedStored} stored without a 201 ({UnknownOutcomes} creates had no answer) — {(Ok ? "OK" : "FAILED")}";

    public static async Task<Durability> CheckAsync(ApiTarget target, IReadOnlyList<LedgerVault> ledger, string how)
    {
        long found = 0, missing = 0, extra = 0;
        try
        {
            await Parallel.ForEachAsync(ledger, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (entry, _) =>
            {
                var vault = new BenchVault(new Tenant(entry.OrganizationId, entry.Authorization), entry.VaultId, target.BaseUri);
                var stored = (await target.ListSecretIdsAsync(vault)).ToHashSet(StringComparer.Ordinal);
                var present = entry.Acknowledged.Count(stored.Contains);
                Interlocked.Add(ref found, present);
                Interlocked.Add(ref missing, entry.Acknowledged.Length - present);
                Interlocked.Add(ref extra, stored.Count - present);
            });
        }
        catch (Exception e)
        {
            return new Durability(target.Name, how, ledger.Count, ledger.Sum(v => (long)v.Acknowledged.Length), found, missing, extra, ledger.Sum(v => (long)v.Unknown), e.Message);
        }

        return new Durability(target.Name, how, ledger.Count, ledger.Sum(v => (long)v.Acknowledged.Length), found, missing, extra, ledger.Sum(v => (long)v.Unknown), null);
    }
}

/// <summary>One goal of the issue against this run's figures.</summary>
internal sealed record GoalResult(
    [property: JsonPropertyName("goal")] string Goal,
    [property: JsonPropertyName("measured")] string Measured,
    [property: JsonPropertyName("met")] bool? Met);

/// <summary>The one table the run prints, as Markdown so it can be quoted as is.</summary>
internal static class Table
{
    public static string Render(IReadOnlyList<ResultRow> rows)
    {
        var text = new StringBuilder();
        text.AppendLine("| # | Scenario | Target | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | service/ceiling | CPU (share of machine) | Notes |");
        text.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|");
        foreach (var row in rows)
        {
            var cpu = new CpuShares(row.Cpu, row.MachineBusy ?? double.NaN).Describe();
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {row.Id} | {row.Scenario} | {row.Target} | {row.Throughput:N0} | {Ms(row.P50)} | {Ms(row.P90)} | {Ms(row.P99)} | {Ms(row.Max)} | {row.Errors:N0} | {(row.Ratio is { } ratio ? Percent(ratio) : "")} | {cpu} | {row.Notes} |");
        }

        return text.ToString();
    }

    public static string Percent(double share) => double.IsNaN(share) ? "-" : $"{share * 100:F0}%";

    public static string Ms(double value) =>
        double.IsNaN(value) ? "-" : value.ToString(value < 10 ? "F2" : value < 100 ? "F1" : "F0", CultureInfo.InvariantCulture);

    /// <summary>Fills the ratio column: the service's throughput over the ceiling's in the same scenario.</summary>
    public static void AddRatios(IReadOnlyList<ResultRow> rows)
    {
        foreach (var service in rows.Where(r => r.Target == "service"))
        {
            if (rows.FirstOrDefault(r => r.Target == "ceiling" && r.Id == service.Id) is { Throughput: > 0 } ceiling)
            {
                service.Ratio = service.Throughput / ceiling.Throughput;
            }
        }
    }

    public static List<GoalResult> Goals(IReadOnlyList<ResultRow> rows, Durability? durability)
    {
        ResultRow? Find(string id, string target) => rows.FirstOrDefault(r => r.Id == id && r.Target == target);
        var goals = new List<GoalResult>();
        var spread = Find("1", "service");
        // The vault log writes a batch as an append to an Append Blob: that write's raw rate is the
        // ceiling of the storage kind used. The block-blob write rate is shown beside it.
        var blob = rows.FirstOrDefault(r => r.Target == "azurite" && r.Scenario.Contains("blob writes", StringComparison.Ordinal));
        var append = rows.FirstOrDefault(r => r.Target == "azurite" && r.Scenario.Contains("append-blob appends", StringComparison.Ordinal));
        var kind = append ?? blob;
        goals.Add(spread is null || kind is null
            ? new GoalResult("creates over 1,000 vaults >= 90% of the raw write rate of the storage kind used", "not measured", null)
            : new GoalResult($"creates over 1,000 vaults >= 90% of the raw write rate of the storage kind used ({(append is null ? "block-blob writes" : "append-blob appends: a batch is one append")})",
                $"{spread.Throughput:N0}/s = {Percent(spread.Throughput / kind.Throughput)} of {kind.Throughput:N0} {(append is null ? "blob writes" : "appends")}/s"
                + (append is not null && blob is not null ? $" ({Percent(spread.Throughput / blob.Throughput)} of {blob.Throughput:N0} block-blob writes/s)" : ""),
                spread.Throughput >= 0.9 * kind.Throughput));

        var hot = Find("2", "service");
        goals.Add(hot is null
            ? new GoalResult("creates into one hot vault >= 12,000/s, every 201 durable", "not measured", null)
            : new GoalResult("creates into one hot vault >= 12,000/s, every 201 durable",
                $"{hot.Throughput:N0}/s, {hot.Errors} errors; durability: {(durability is null ? "not verified" : durability.Ok ? "OK" : "FAILED")}",
                hot.Throughput >= 12_000 && durability is { Ok: true }));

        var list = Find("3", "service");
        goals.Add(list is null
            ? new GoalResult("list (100 secrets) >= 60% of the in-memory ceiling, p99 < 10 ms", "not measured", null)
            : new GoalResult("list (100 secrets) >= 60% of the in-memory ceiling, p99 < 10 ms",
                $"{list.Throughput:N0}/s = {Percent(list.Ratio ?? double.NaN)} of ceiling, p99 {Ms(list.P99)} ms", list.Ratio >= 0.6 && list.P99 < 10));

        if (ProxyFigures.From(rows) is { } proxy)
        {
            goals.Add(new GoalResult($"secret proxy: added p50 <= 1 ms on a warm tunnel, {proxy.LatencyConnections} connection(s)",
                $"{Ms(proxy.UnloadedAddedP50)} ms", proxy.UnloadedAddedP50 <= 1));
            goals.Add(new GoalResult($"secret proxy: added p50 <= 1 ms on a warm tunnel, {proxy.Connections} connections",
                $"{Ms(proxy.AddedP50)} ms", proxy.AddedP50 <= 1));
            goals.Add(new GoalResult($"secret proxy: throughput >= 50% of direct on a warm tunnel, {proxy.Connections} connections",
                Percent(proxy.ThroughputRatio), proxy.ThroughputRatio >= 0.5));
        }

        foreach (var feature in BenchSwitch.All)
        {
            foreach (var c in SwitchFigures.From(feature, rows)?.Scenarios ?? [])
            {
                goals.Add(new GoalResult($"{feature.Name.ToLowerInvariant()} on: {c.Scenario} >= {Percent(1 - feature.Tolerance)} of the same run with it off",
                    $"{c.OnThroughput:N0}/s vs {c.OffThroughput:N0}/s = {Percent(c.ThroughputRatio)}", c.WithinTolerance));
            }
        }

        var small = Find("5.1", "service");
        var large = Find("5.3", "service");
        goals.Add(small is null || large is null
            ? new GoalResult("growth: create p50 at 1,000 secrets <= 1.5 x p50 at 1", "not measured", null)
            : new GoalResult("growth: create p50 at 1,000 secrets <= 1.5 x p50 at 1",
                $"p50 {Ms(large.P50)} ms vs {Ms(small.P50)} ms = {large.P50 / small.P50:F2}x", large.P50 <= 1.5 * small.P50));
        return goals;
    }
}
