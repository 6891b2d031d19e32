using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using OpenTelemetry;

namespace VaultGrains.Tests.Telemetry;

/// <summary>What the telemetry tests share: reading Prometheus text, finding ids, collecting spans.</summary>
internal static partial class TelemetryKit
{
    /// <summary>A resource id of any kind: none may appear in a metric label or a span attribute.</summary>
    [GeneratedRegex("(?:org|vlt|sec|key|rtm)_[0-9A-Z]{26}")]
    public static partial Regex ResourceId();

    /// <summary>The sum of every sample of <paramref name="name"/> whose labels contain each of <paramref name="labels"/>.</summary>
    public static double Sample(string prometheusText, string name, params string[] labels)
    {
        double total = 0;
        foreach (var line in prometheusText.Split('\n'))
        {
            if (line.StartsWith('#') || !line.StartsWith(name, StringComparison.Ordinal) || line.Length <= name.Length || line[name.Length] is not ('{' or ' '))
            {
                continue;
            }

            var labelText = line[name.Length] == '{' ? line[(name.Length + 1)..line.LastIndexOf('}')] : "";
            if (labels.All(l => labelText.Contains(l, StringComparison.Ordinal)))
            {
                var fields = line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ');
                total += double.Parse(fields[0], CultureInfo.InvariantCulture);
            }
        }

        return total;
    }
}

/// <summary>An exporter that keeps every span it is given, as an OTLP exporter would receive it.</summary>
public sealed class SpanCollector : BaseExporter<Activity>
{
    private readonly ConcurrentDictionary<Activity, bool> spans = new();

    public IReadOnlyCollection<Activity> Spans => spans.Keys.ToArray();

    public override ExportResult Export(in Batch<Activity> batch)
    {
        foreach (var activity in batch)
        {
            spans.TryAdd(activity, true);
        }

        return ExportResult.Success;
    }

    /// <summary>Every text of a span an exporter sends: name, attributes, status, events and their attributes, baggage.</summary>
    public static IEnumerable<string> Texts(Activity span)
    {
        yield return span.DisplayName;
        yield return span.OperationName;
        if (span.StatusDescription is { } status)
        {
            yield return status;
        }

        foreach (var (key, value) in span.TagObjects)
        {
            yield return $"{key}={value}";
        }

        foreach (var e in span.Events)
        {
            yield return e.Name;
            foreach (var (key, value) in e.Tags)
            {
                yield return $"{key}={value}";
            }
        }

        foreach (var (key, value) in span.Baggage)
        {
            yield return $"{key}={value}";
        }
    }
}

internal static class AzureActivities
{
    // The Azure SDK reads this switch once per process; production sets it before any client is
    // made (AddVaultTelemetry). Tests share one process, so it is set before any test runs.
#pragma warning disable CA2255 // A module initializer in a test assembly, on purpose.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Enable() => AppContext.SetSwitch("Azure.Experimental.EnableActivitySource", true);
}
