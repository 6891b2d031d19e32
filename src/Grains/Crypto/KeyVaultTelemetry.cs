using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace VaultGrains.Grains.Crypto;

/// <summary>
/// Key Vault calls as operators see them: one span (source <c>VaultGrains.KeyVault</c>) and one
/// latency measurement (meter <c>VaultGrains.KeyVault</c>) per wrap or unwrap, retries included,
/// labelled by operation and outcome only (never a key id, never key bytes).
/// </summary>
internal static class KeyVaultTelemetry
{
    public const string Name = "VaultGrains.KeyVault";

    public static readonly ActivitySource Source = new(Name);

    private static readonly Meter Meter = new(Name);

    public static readonly Histogram<double> Duration = Meter.CreateHistogram("vaultgrains.keyvault.duration", "s",
        "Key Vault wrap and unwrap calls (retries included), by operation and outcome.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 25] });

    /// <summary><c>success</c>, <c>rejected</c> (a wrapped key Key Vault refuses), <c>timeout</c>, <c>canceled</c> or <c>unavailable</c>.</summary>
    public static string Outcome(Exception? failure, bool canceled) => failure switch
    {
        null => "success",
        WrappedKeyRejectedException => "rejected",
        _ when canceled => "canceled",
        KeyServiceUnavailableException { InnerException: OperationCanceledException } => "timeout",
        _ => "unavailable",
    };
}
