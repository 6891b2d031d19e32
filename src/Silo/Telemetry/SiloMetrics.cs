using System.Diagnostics.Metrics;

namespace VaultGrains.Silo.Telemetry;

/// <summary>
/// The silo's own instruments (meter <c>VaultGrains.Silo</c>). Labels are method names, provider
/// names and outcomes: small fixed sets, never an id.
/// </summary>
internal static class SiloMetrics
{
    public const string MeterName = "VaultGrains.Silo";

    private static readonly Meter Meter = new(MeterName);

    // Latency buckets in seconds: from a fast local write (1 ms) to Orleans' 30 s call limit.
    private static readonly double[] Seconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    /// <summary>Changes to a vault or its secrets by grain method (<c>CreateSecret</c>, …) and outcome (<c>success</c> or the error).</summary>
    public static readonly Counter<long> Changes = Meter.CreateCounter<long>("vaultgrains.vault.changes", "{change}",
        "Vault and secret creates, updates and deletes, by method and outcome.");

    /// <summary>Time a change spent in the vault grain, its group-commit write included.</summary>
    public static readonly Histogram<double> ChangeDuration = Meter.CreateHistogram("vaultgrains.vault.change.duration", "s",
        "Time a vault change took in the grain, waiting for its batch's write included.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Seconds });

    /// <summary>Changes acknowledged together after one vault write (group commit).</summary>
    public static readonly Histogram<int> BatchSize = Meter.CreateHistogram("vaultgrains.vault.batch.size", "{change}",
        "Vault changes acknowledged after one group-commit write.", advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] });

    /// <summary>Grain state writes by storage provider and outcome (<c>success</c>, <c>conflict</c>, <c>error</c>).</summary>
    public static readonly Histogram<double> WriteDuration = Meter.CreateHistogram("vaultgrains.storage.write.duration", "s",
        "Grain state writes (a vault's write is one group commit), by provider and outcome.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Seconds });

    /// <summary>Serialized size of each state written, by provider.</summary>
    public static readonly Histogram<int> WriteSize = Meter.CreateHistogram("vaultgrains.storage.write.size", "By",
        "Serialized size of grain state written, by provider.", advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 8388608] });

    /// <summary>Grain state reads: one per activation, so by provider this is activations and their load time.</summary>
    public static readonly Histogram<double> ReadDuration = Meter.CreateHistogram("vaultgrains.storage.read.duration", "s",
        "Grain state reads (one per activation: the activation's load time), by provider and outcome.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Seconds });
}
