using System.Globalization;

namespace VaultGrains.Bench.Load;

/// <summary>Durations, concurrency and sizes of a run; each can be overridden by an environment variable.</summary>
internal sealed record BenchSettings
{
    public int Connections { get; init; } = Int("BENCH_CONNECTIONS", 64);

    /// <summary>Scenarios 1-4: warm-up, then the measured window.</summary>
    public TimeSpan Warmup { get; init; } = Seconds("BENCH_WARMUP", 30);

    public TimeSpan Duration { get; init; } = Seconds("BENCH_DURATION", 15);

    /// <summary>Raw storage writes, each growth level and the duplicate storm: shorter, after a 2 s warm-up.</summary>
    public TimeSpan ShortWarmup { get; init; } = Seconds("BENCH_SHORT_WARMUP", 2);

    public TimeSpan StorageDuration { get; init; } = Seconds("BENCH_STORAGE_DURATION", 10);

    public TimeSpan GrowthDuration { get; init; } = Seconds("BENCH_GROWTH_DURATION", 5);

    public TimeSpan StormDuration { get; init; } = Seconds("BENCH_STORM_DURATION", 10);

    public int SpreadVaults { get; init; } = Int("BENCH_VAULTS", 1000);

    public int ListSecrets { get; init; } = Int("BENCH_LIST_SECRETS", 100);

    /// <summary>Growth is measured with this many connections (default one: the latency of a lone create).</summary>
    public int GrowthConnections { get; init; } = Int("BENCH_GROWTH_CONNECTIONS", 1);

    /// <summary>Secret values are this long: small, so a hot vault fills on its secret count, never on its 8 MiB.</summary>
    public int ValueBytes { get; init; } = Int("BENCH_VALUE_BYTES", 32);

    /// <summary>Proxy scenarios: warm-up and measured window of each.</summary>
    public TimeSpan ProxyWarmup { get; init; } = Seconds("BENCH_PROXY_WARMUP", 3);

    public TimeSpan ProxyDuration { get; init; } = Seconds("BENCH_PROXY_DURATION", 10);

    /// <summary>Connections of the proxy's latency pair (direct and warm tunnel without queueing; default one).</summary>
    public int ProxyLatencyConnections { get; init; } = Int("BENCH_PROXY_LATENCY_CONNECTIONS", 1);

    /// <summary>Comma-separated subset of spread,storage,hot,list,mix,growth,storm,proxy; empty for all.</summary>
    public IReadOnlySet<string> Scenarios { get; init; } =
        (Environment.GetEnvironmentVariable("BENCH_SCENARIOS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();

    public Dictionary<string, string> Describe() => new()
    {
        ["connections"] = $"{Connections}",
        ["warmup_s"] = $"{Warmup.TotalSeconds}",
        ["duration_s"] = $"{Duration.TotalSeconds}",
        ["short_warmup_s"] = $"{ShortWarmup.TotalSeconds}",
        ["storage_duration_s"] = $"{StorageDuration.TotalSeconds}",
        ["growth_duration_s"] = $"{GrowthDuration.TotalSeconds}",
        ["storm_duration_s"] = $"{StormDuration.TotalSeconds}",
        ["spread_vaults"] = $"{SpreadVaults}",
        ["list_secrets"] = $"{ListSecrets}",
        ["growth_connections"] = $"{GrowthConnections}",
        ["value_bytes"] = $"{ValueBytes}",
        ["proxy_warmup_s"] = $"{ProxyWarmup.TotalSeconds}",
        ["proxy_duration_s"] = $"{ProxyDuration.TotalSeconds}",
        ["proxy_latency_connections"] = $"{ProxyLatencyConnections}",
        ["scenarios"] = Scenarios.Count == 0 ? "all" : string.Join(",", Scenarios),
    };

    public bool Runs(string scenario) => Scenarios.Count == 0 || Scenarios.Contains(scenario);

    private static int Int(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : fallback;

    private static TimeSpan Seconds(string name, double fallback) =>
        TimeSpan.FromSeconds(double.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : fallback);
}
