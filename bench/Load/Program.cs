using System.Text.Json;
using System.Text.Json.Serialization;
using VaultGrains.Bench.Load;

// run:    drives every scenario against the service and the ceiling (when --ceiling is given), saves
//         figures and the ledger. --phase LABEL names the service's rows "service, LABEL" (the audit
//         and telemetry comparisons run twice, e.g. "trail on" and "trail off": BenchSwitch);
//         --audit-container counts the trail's appends.
// verify: after the service was restarted, checks every acknowledged create is stored, prints
//         the table and writes the result file. --state may name several run files (comma-separated).
//         --durability-out FILE only checks and writes the check to FILE (one phase on storage of its
//         own); --checked FILE,... adds such checks up instead of checking a service.
var options = Arguments.Parse(args[1..]);
var settings = new BenchSettings();
var json = new JsonSerializerOptions { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
switch (args[0])
{
    case "run":
    {
        var adminToken = Environment.GetEnvironmentVariable("BENCH_ADMIN_TOKEN") ?? throw new InvalidOperationException("BENCH_ADMIN_TOKEN is not set.");
        var connection = Environment.GetEnvironmentVariable("BENCH_STORAGE") is { Length: > 0 } storageConnection ? storageConnection : null;
        var storage = connection is null ? null : new StorageCeiling(connection);
        var audit = connection is not null && options.Has("audit-container") ? new AuditTrailBlobs(connection, options.Get("audit-container")) : null;
        var watch = new ProcessWatch(options.Watched);
        var startedAt = DateTimeOffset.UtcNow;
        var loadBefore = Machine.LoadAverage();
        using var service = new ApiTarget("service", new Uri(options.Get("service")), adminToken, settings.Connections);
        using var ceiling = options.Has("ceiling") ? new ApiTarget("ceiling", new Uri(options.Get("ceiling")), adminToken, settings.Connections) : null;
        TargetState[] targets = ceiling is null ? [new(service)] : [new(service), new(ceiling)];
        var run = new BenchRun(settings, watch, targets, storage, options.Get("vault-container"), audit);
        await run.RunAsync();
        if (settings.Runs("proxy") && options.Has("upstream"))
        {
            var secretValue = Environment.GetEnvironmentVariable("BENCH_PROXY_SECRET") is { Length: > 0 } value ? value : throw new InvalidOperationException("BENCH_PROXY_SECRET is not set.");
            var proxy = new ProxyBench(settings, watch, service, new Uri(options.Get("upstream")), options.Get("upstream-ca"), secretValue);
            run.Rows.AddRange(await proxy.RunAsync());
        }

        Table.AddRatios(run.Rows);

        Durability? ceilingDurability = null;
        if (ceiling is not null)
        {
            BenchRun.Log("ceiling: checking every acknowledged create is listed");
            ceilingDurability = await Durability.CheckAsync(ceiling, targets[1].Ledger.Export(), "by listing");
            BenchRun.Log(ceilingDurability.Describe());
        }

        var rows = run.Rows;
        var phase = options.Has("phase") ? options.Get("phase") : null;
        if (phase is not null)
        {
            rows = rows.Select(r => r.Target == "service" ? r with { Target = $"service, {phase}" } : r).ToList();
        }

        var state = new RunState(startedAt, settings.Describe(), loadBefore, rows, ceilingDurability, targets[0].Ledger.Export(),
            targets.ToDictionary(t => phase is not null && t.Name == "service" ? $"service, {phase}" : t.Name, t => Math.Round(t.SetupTime.TotalSeconds, 1)));
        await File.WriteAllTextAsync(options.Get("state"), JsonSerializer.Serialize(state, json));
        break;
    }

    case "verify":
    {
        var states = new List<RunState>();
        foreach (var file in options.Get("state").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            states.Add(JsonSerializer.Deserialize<RunState>(await File.ReadAllTextAsync(file), json)!);
        }

        // Several run files (one per phase) read as one run: the first one's start, settings and load.
        var state = states[0] with
        {
            Rows = states.SelectMany(s => s.Rows).ToList(),
            CeilingDurability = states.Select(s => s.CeilingDurability).FirstOrDefault(d => d is not null),
            ServiceLedger = states.SelectMany(s => s.ServiceLedger).ToList(),
            SetupSeconds = states.SelectMany(s => s.SetupSeconds).GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.Sum(p => p.Value)),
        };
        Durability serviceDurability;
        if (options.Has("checked"))
        {
            // Each phase was checked on its own storage (./bench.sh audit): their checks, added up.
            var checks = new List<Durability>();
            foreach (var file in options.Get("checked").Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                checks.Add(JsonSerializer.Deserialize<Durability>(await File.ReadAllTextAsync(file), json)!);
            }

            serviceDurability = new Durability("service", "after a restart of silo and API on each phase's own storage",
                checks.Sum(c => c.Vaults), checks.Sum(c => c.Acknowledged), checks.Sum(c => c.Found), checks.Sum(c => c.Missing),
                checks.Sum(c => c.UnacknowledgedStored), checks.Sum(c => c.UnknownOutcomes), checks.Select(c => c.Error).FirstOrDefault(e => e is not null));
        }
        else if (options.Has("service-unavailable"))
        {
            serviceDurability = new Durability("service", "", state.ServiceLedger.Count, state.ServiceLedger.Sum(v => (long)v.Acknowledged.Length), 0, 0, 0, 0, options.Get("service-unavailable"));
        }
        else
        {
            BenchRun.Log("service: checking every acknowledged create is listed");
            using var service = new ApiTarget("service", new Uri(options.Get("service")), "", settings.Connections);
            serviceDurability = await Durability.CheckAsync(service, state.ServiceLedger,
                options.Has("not-restarted") ? "without a restart (nothing to prove)" : "after a restart of silo and API");
        }

        if (options.Has("durability-out"))
        {
            // One phase of several, checked now because its storage goes with it: the last verify adds them up.
            await File.WriteAllTextAsync(options.Get("durability-out"), JsonSerializer.Serialize(serviceDurability, json));
            BenchRun.Log(serviceDurability.Describe());
            return serviceDurability.Ok ? 0 : 3;
        }

        var goals = Table.Goals(state.Rows, serviceDurability);
        var result = new BenchResult(state.StartedAt, Environment.GetEnvironmentVariable("BENCH_COMMIT") ?? "unknown", Machine.Describe(),
            state.LoadAverageBefore, Machine.LoadAverage(), state.Settings, state.SetupSeconds, state.Rows,
            state.CeilingDurability is null ? [serviceDurability] : [state.CeilingDurability, serviceDurability], goals,
            ProxyFigures.From(state.Rows), SwitchFigures.From(BenchSwitch.Audit, state.Rows), SwitchFigures.From(BenchSwitch.Telemetry, state.Rows));
        await File.WriteAllTextAsync(options.Get("out"), JsonSerializer.Serialize(result, json));

        Console.WriteLine();
        Console.WriteLine($"VaultGrains benchmark, {state.StartedAt:yyyy-MM-dd HH:mm} UTC, commit {result.Commit}, {result.Machine.Cores} cores, {result.Machine.MemoryMiB / 1024.0:F0} GiB ({result.Machine.CpuModel})");
        Console.WriteLine($"{settings.Connections} connections; {settings.Warmup.TotalSeconds:F0} s warm-up + {settings.Duration.TotalSeconds:F0} s measured (storage {settings.StorageDuration.TotalSeconds:F0} s, growth {settings.GrowthDuration.TotalSeconds:F0} s per level, storm {settings.StormDuration.TotalSeconds:F0} s); load average before {state.LoadAverageBefore}, after {result.LoadAverageAfter}");
        Console.WriteLine();
        Console.Write(Table.Render(state.Rows));
        Console.WriteLine();
        Console.WriteLine("Every 201 durable:");
        foreach (var durability in result.Durability)
        {
            Console.WriteLine($"- {durability.Describe()}");
        }

        var busiestLoad = state.Rows.MaxBy(r => r.Cpu.GetValueOrDefault("load"));
        if (busiestLoad is not null)
        {
            Console.WriteLine();
            Console.WriteLine($"Load generator: at most {Table.Percent(busiestLoad.Cpu.GetValueOrDefault("load"))} of the machine's CPU ({busiestLoad.Id} {busiestLoad.Scenario}, {busiestLoad.Target}).");
        }

        var busiestOther = state.Rows.Where(r => r.MachineBusy is not null).MaxBy(r => r.MachineBusy!.Value - r.Cpu.Values.Sum());
        if (busiestOther is not null && busiestOther.MachineBusy!.Value - busiestOther.Cpu.Values.Sum() is var other && other > 0.1)
        {
            Console.WriteLine($"WARNING: other processes used up to {Table.Percent(other)} of the machine's CPU during a measurement ({busiestOther.Id} {busiestOther.Scenario}, {busiestOther.Target}): this run's figures understate what the machine can do.");
        }

        if (result.Proxy is { } proxyFigures)
        {
            Console.WriteLine();
            Console.WriteLine($"Secret proxy (P rows; {settings.ProxyWarmup.TotalSeconds:F0} s warm-up + {settings.ProxyDuration.TotalSeconds:F0} s measured each; ratio column: throughput over direct's):");
            foreach (var line in proxyFigures.Describe())
            {
                Console.WriteLine($"- {line}");
            }
        }

        foreach (var switchFigures in new[] { result.Audit, result.Telemetry }.OfType<SwitchFigures>())
        {
            Console.WriteLine();
            Console.WriteLine(switchFigures.Headline);
            Console.Write(switchFigures.Render());
        }

        Console.WriteLine();
        Console.WriteLine("Goals (service):");
        foreach (var goal in goals)
        {
            Console.WriteLine($"- {goal.Goal}: {goal.Measured} — {(goal.Met switch { true => "met", false => "MISSED", null => "not measured" })}");
        }

        Console.WriteLine();
        Console.WriteLine($"Result file: {options.Get("out")}");
        return serviceDurability.Ok && (state.CeilingDurability?.Ok ?? true) && (result.Proxy?.EveryRequestReleased ?? true) ? 0 : 3;
    }

    default:
        Console.Error.WriteLine("usage: VaultGrains.Bench.Load run|verify --option value ...");
        return 2;
}

return 0;
