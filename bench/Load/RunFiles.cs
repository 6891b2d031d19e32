using System.Globalization;
using System.Text.Json.Serialization;

namespace VaultGrains.Bench.Load;

/// <summary>What the run phase hands to the verify phase (through a file, across the service's restart).</summary>
internal sealed record RunState(
    [property: JsonPropertyName("started_at")] DateTimeOffset StartedAt,
    [property: JsonPropertyName("settings")] Dictionary<string, string> Settings,
    [property: JsonPropertyName("load_average_before")] string LoadAverageBefore,
    [property: JsonPropertyName("rows")] List<ResultRow> Rows,
    [property: JsonPropertyName("ceiling_durability")] Durability? CeilingDurability,
    [property: JsonPropertyName("service_ledger")] IReadOnlyList<LedgerVault> ServiceLedger,
    [property: JsonPropertyName("setup_seconds")] Dictionary<string, double> SetupSeconds);

/// <summary>The result file.</summary>
internal sealed record BenchResult(
    [property: JsonPropertyName("started_at")] DateTimeOffset StartedAt,
    [property: JsonPropertyName("commit")] string Commit,
    [property: JsonPropertyName("machine")] MachineInfo Machine,
    [property: JsonPropertyName("load_average_before")] string LoadAverageBefore,
    [property: JsonPropertyName("load_average_after")] string LoadAverageAfter,
    [property: JsonPropertyName("settings")] Dictionary<string, string> Settings,
    [property: JsonPropertyName("setup_seconds")] Dictionary<string, double> SetupSeconds,
    [property: JsonPropertyName("rows")] List<ResultRow> Rows,
    [property: JsonPropertyName("durability")] IReadOnlyList<Durability> Durability,
    [property: JsonPropertyName("goals")] IReadOnlyList<GoalResult> Goals,
    [property: JsonPropertyName("proxy")] ProxyFigures? Proxy,
    [property: JsonPropertyName("audit"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] SwitchFigures? Audit = null,
    [property: JsonPropertyName("telemetry"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] SwitchFigures? Telemetry = null);

internal sealed record MachineInfo(
    [property: JsonPropertyName("cores")] int Cores,
    [property: JsonPropertyName("memory_mib")] long MemoryMiB,
    [property: JsonPropertyName("cpu_model")] string CpuModel);

/// <summary>Facts about this machine from /proc.</summary>
internal static class Machine
{
    public static string LoadAverage() => Read("/proc/loadavg") is { } text ? string.Join(' ', text.Split(' ').Take(3)) : "unknown";

    public static MachineInfo Describe()
    {
        var memoryKiB = Read("/proc/meminfo")?.Split('\n').FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))
            ?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        var model = Read("/proc/cpuinfo")?.Split('\n').FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        return new MachineInfo(Environment.ProcessorCount, memoryKiB is null ? 0 : long.Parse(memoryKiB, CultureInfo.InvariantCulture) / 1024, model ?? "unknown");
    }

    private static string? Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
    }
}

/// <summary><c>--name value</c> pairs; <c>--watch name=pid</c> may repeat.</summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, string> values = [];

    public Dictionary<string, int> Watched { get; } = [];

    public static Arguments Parse(string[] args)
    {
        var parsed = new Arguments();
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            var (name, value) = (args[i].TrimStart('-'), args[i + 1]);
            if (name == "watch")
            {
                var (process, pid) = (value.Split('=')[0], value.Split('=')[1]);
                parsed.Watched[process] = int.Parse(pid, CultureInfo.InvariantCulture);
            }
            else
            {
                parsed.values[name] = value;
            }
        }

        return parsed;
    }

    public bool Has(string name) => values.ContainsKey(name);

    public string Get(string name) => values.TryGetValue(name, out var value) ? value : throw new ArgumentException($"--{name} is required.");
}
