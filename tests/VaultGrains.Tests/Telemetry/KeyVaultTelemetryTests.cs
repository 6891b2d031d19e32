using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using VaultGrains.Tests.Api;
using VaultGrains.Tests.Grains;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Telemetry;

/// <summary>Key Vault calls through the production adapter show as a span and a latency by operation and outcome.</summary>
[Collection(nameof(KeyVaultCollection))]
public sealed class KeyVaultTelemetryTests(KeyVaultApiFixture fixture)
{
    [Fact]
    public async Task Each_wrap_and_unwrap_is_a_span_and_a_measurement_by_operation_and_outcome_without_the_key_id()
    {
        var measured = new ConcurrentQueue<(double Seconds, string Tags)>();
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "VaultGrains.KeyVault")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<double>((_, value, tags, _) =>
            measured.Enqueue((value, string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}")))));
        meters.Start();
        var spans = new ConcurrentQueue<Activity>();
        using var activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "VaultGrains.KeyVault",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(activities);

        var (_, client, _) = await fixture.NewTenantAsync();
        var vaultId = await ApiFixture.CreateVaultAsync(client);
        await fixture.DeactivateAllAsync();
        await ApiTestKit.CreateSecretAsync(client, vaultId, "TELEMETRY", "kv-telemetry-value");

        Assert.Contains(measured, m => m.Tags == "operation=wrapkey,outcome=success" && m.Seconds > 0);
        Assert.Contains(measured, m => m.Tags == "operation=unwrapkey,outcome=success" && m.Seconds > 0);
        Assert.Contains(spans, s => s.DisplayName == "KeyVault unwrapkey" && s.GetTagItem("vaultgrains.keyvault.outcome") as string == "success");
        var span = spans.First(s => s.DisplayName == "KeyVault unwrapkey");
        Assert.Equal(ActivityKind.Client, span.Kind);
        Assert.DoesNotContain(span.TagObjects, t => $"{t.Value}".Contains("/keys/", StringComparison.Ordinal));
    }
}
