using System.Diagnostics;
using HdrHistogram;

namespace VaultGrains.Bench.Load;

/// <summary>What one operation of a worker came to. Only <see cref="Ok"/> ones are timed.</summary>
internal readonly record struct Outcome(bool Ok, long ElapsedTicks, string? Failure, string? Kind = null)
{
    public static Outcome Success(long elapsedTicks, string? kind = null) => new(true, elapsedTicks, null, kind);

    public static Outcome Error(long elapsedTicks, string failure, string? kind = null) => new(false, elapsedTicks, failure, kind);
}

/// <summary>Latencies (HdrHistogram, microseconds) and counts of one measured window.</summary>
internal sealed class Measurement
{
    public LongHistogram Histogram { get; } = new(1, 120_000_000, 3);

    public long Ok { get; set; }

    public long Errors { get; set; }

    public Dictionary<string, long> FailureKinds { get; } = [];

    public TimeSpan Window { get; set; }

    public CpuShares Cpu { get; set; } = CpuShares.Empty;

    public double Throughput => Ok / Window.TotalSeconds;

    /// <summary>Duplicate storm only: rounds measured, and those with exactly one 201.</summary>
    public int? Rounds { get; set; }

    public int? CorrectRounds { get; set; }

    /// <summary>The same figures per kind of operation, for mixed workloads.</summary>
    public SortedDictionary<string, Measurement> ByKind { get; } = new(StringComparer.Ordinal);

    public void Record(Outcome outcome)
    {
        if (outcome.Kind is { } kind)
        {
            if (!ByKind.TryGetValue(kind, out var part))
            {
                ByKind[kind] = part = new Measurement();
            }

            part.Record(outcome with { Kind = null });
        }

        if (outcome.Ok)
        {
            Ok++;
            Histogram.RecordValue(Math.Max(1, outcome.ElapsedTicks * 1_000_000 / Stopwatch.Frequency));
        }
        else
        {
            Errors++;
            var failure = outcome.Failure ?? "error";
            FailureKinds[failure] = FailureKinds.GetValueOrDefault(failure) + 1;
        }
    }

    public void Add(Measurement other)
    {
        foreach (var (kind, part) in other.ByKind)
        {
            if (!ByKind.TryGetValue(kind, out var mine))
            {
                ByKind[kind] = mine = new Measurement { Window = Window };
            }

            mine.Add(part);
        }

        Histogram.Add(other.Histogram);
        Ok += other.Ok;
        Errors += other.Errors;
        foreach (var (kind, count) in other.FailureKinds)
        {
            FailureKinds[kind] = FailureKinds.GetValueOrDefault(kind) + count;
        }
    }

    public double PercentileMs(double percentile) => Histogram.TotalCount == 0 ? double.NaN : Histogram.GetValueAtPercentile(percentile) / 1000.0;

    public double MaxMs => Histogram.TotalCount == 0 ? double.NaN : Histogram.GetMaxValue() / 1000.0;
}

/// <summary>
/// A closed loop: each of N workers sends its next request as soon as the previous one answered.
/// Operations that complete inside the measured window (after the warm-up) are counted; CPU of
/// this process and of the watched ones is sampled at the window's edges.
/// </summary>
internal static class ClosedLoop
{
    public static async Task<Measurement> RunAsync(int workers, TimeSpan warmup, TimeSpan duration, ProcessWatch watch, Func<int, long, ValueTask<Outcome>> operation)
    {
        var start = Stopwatch.GetTimestamp();
        var measureFrom = start + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        var measureTo = measureFrom + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var cpu = SampleCpuAsync(watch, measureFrom, measureTo);
        var measurements = await Task.WhenAll(Enumerable.Range(0, workers).Select(worker => Task.Run(async () =>
        {
            var measurement = new Measurement();
            for (long sequence = 0; Stopwatch.GetTimestamp() < measureTo; sequence++)
            {
                var began = Stopwatch.GetTimestamp();
                Outcome outcome;
                try
                {
                    outcome = await operation(worker, sequence);
                }
                catch (Exception e)
                {
                    outcome = Outcome.Error(Stopwatch.GetTimestamp() - began, e.GetType().Name);
                }

                var ended = Stopwatch.GetTimestamp();
                if (ended >= measureFrom && ended <= measureTo)
                {
                    measurement.Record(outcome);
                }
            }

            return measurement;
        })));

        var total = new Measurement { Window = duration, Cpu = await cpu };
        foreach (var measurement in measurements)
        {
            total.Add(measurement);
        }

        return total;
    }

    public static async Task<CpuShares> SampleCpuAsync(ProcessWatch watch, long from, long to)
    {
        await Task.Delay(Until(from));
        var before = watch.Sample();
        await Task.Delay(Until(to));
        return watch.Since(before);
    }

    private static TimeSpan Until(long timestamp) => TimeSpan.FromSeconds(Math.Max(0, (timestamp - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency));
}
