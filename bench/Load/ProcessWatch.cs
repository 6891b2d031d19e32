using System.Diagnostics;
using System.Globalization;

namespace VaultGrains.Bench.Load;

/// <summary>CPU used in a window, as shares of the whole machine (1.0 = every core busy).</summary>
internal sealed record CpuShares(IReadOnlyDictionary<string, double> Processes, double Machine)
{
    public static CpuShares Empty { get; } = new(new Dictionary<string, double>(), double.NaN);

    /// <summary>Busy share of the machine not explained by the watched processes: other work on the machine.</summary>
    public double Other => Machine - Processes.Values.Sum();

    public string Describe() =>
        string.Join(" ", Processes.Where(p => p.Value >= 0.005).OrderByDescending(p => p.Value).Select(p => $"{p.Key} {Table.Percent(p.Value)}"))
        + (double.IsNaN(Machine) ? "" : $" other {Table.Percent(Math.Max(0, Other))} idle {Table.Percent(Math.Max(0, 1 - Machine))}");
}

/// <summary>
/// Reads CPU time of this load generator, of the processes under test (from /proc/PID/stat) and
/// of the whole machine (/proc/stat), so each result says where the CPU went and whether the load
/// generator or another tenant of the machine was in the way.
/// </summary>
internal sealed class ProcessWatch(IReadOnlyDictionary<string, int> processes)
{
    private static readonly double TicksPerSecond = 100.0; // USER_HZ on Linux
    private readonly Dictionary<string, int> watched = new(processes);

    public Snapshot Sample()
    {
        var times = new Dictionary<string, double>();
        foreach (var (name, pid) in watched)
        {
            if (ProcessSeconds(pid) is { } seconds)
            {
                times[name] = seconds;
            }
        }

        times["load"] = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        return new Snapshot(Stopwatch.GetTimestamp(), times, MachineSeconds());
    }

    public CpuShares Since(Snapshot before)
    {
        var after = Sample();
        var wall = (after.Timestamp - before.Timestamp) / (double)Stopwatch.Frequency;
        var capacity = wall * Environment.ProcessorCount;
        var shares = after.Seconds.Where(p => before.Seconds.ContainsKey(p.Key))
            .ToDictionary(p => p.Key, p => (p.Value - before.Seconds[p.Key]) / capacity);
        var machine = after.Machine is { } b && before.Machine is { } a ? (b.Busy - a.Busy) / (b.Total - a.Total) : double.NaN;
        return new CpuShares(shares, machine);
    }

    private static double? ProcessSeconds(int pid)
    {
        try
        {
            // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static (double Busy, double Total)? MachineSeconds()
    {
        try
        {
            var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            // user nice system idle iowait irq softirq steal (guest time is already in user).
            var total = cpu.Take(8).Sum();
            var idle = cpu[3] + cpu[4];
            return (total - idle, total);
        }
        catch (IOException)
        {
            return null;
        }
    }

    public sealed record Snapshot(long Timestamp, Dictionary<string, double> Seconds, (double Busy, double Total)? Machine);
}
