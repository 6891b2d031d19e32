using System.Diagnostics;

namespace VaultGrains.Silo.Telemetry;

/// <summary>
/// Times one storage provider's reads and writes into <see cref="SiloMetrics.ReadDuration"/> and
/// <see cref="SiloMetrics.WriteDuration"/>, with the outcome: <c>success</c>, <c>conflict</c> (a write
/// another writer got to first, as the store reports it) or <c>error</c>.
/// </summary>
internal static class StorageMeasurement
{
    public static async Task<T> ReadAsync<T>(string provider, Func<Task<T>> read)
    {
        var started = Stopwatch.GetTimestamp();
        var outcome = "error";
        try
        {
            var result = await read();
            outcome = "success";
            return result;
        }
        finally
        {
            Record(SiloMetrics.ReadDuration, provider, started, outcome);
        }
    }

    public static async Task WriteAsync(string provider, Func<Task> write, Func<Exception, bool> isConflict)
    {
        var started = Stopwatch.GetTimestamp();
        var outcome = "error";
        try
        {
            await write();
            outcome = "success";
        }
        catch (Exception e) when (isConflict(e))
        {
            outcome = "conflict";
            throw;
        }
        finally
        {
            Record(SiloMetrics.WriteDuration, provider, started, outcome);
        }
    }

    private static void Record(System.Diagnostics.Metrics.Histogram<double> histogram, string provider, long started, string outcome) =>
        histogram.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new TagList { { "provider", provider }, { "outcome", outcome } });
}
