using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using VaultGrains.Proxy.Release;
using VaultGrains.Tests.Infrastructure;

namespace VaultGrains.Tests.Proxy;

/// <summary>One log line per release decision with the ids an operator needs, and a counter whose labels stay bounded.</summary>
public sealed class LoggingReleaseEventSinkTests
{
    [Fact]
    public void Each_event_is_one_information_line_and_one_count_with_bounded_tags()
    {
        var logs = new CapturedLogs();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        var sink = new LoggingReleaseEventSink(factory.CreateLogger<LoggingReleaseEventSink>());

        var measurements = new List<(long Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == LoggingReleaseEventSink.MeterName && instrument.Name == LoggingReleaseEventSink.ReleasesCounterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            lock (measurements)
            {
                measurements.Add((value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));
            }
        });
        listener.Start();

        sink.Record(new ReleaseEvent("rtm_1", "vlt_1", "sec_1", "TOKEN", "api.example.com", "GET", "/v1/items", "query", "released", null));
        sink.Record(new ReleaseEvent("rtm_1", "vlt_1", "sec_1", "TOKEN", "evil.test", "POST", "/x", "weird-location", "refused", "domain_not_allowed"));

        var lines = logs.Lines.Where(l => l.Contains(nameof(LoggingReleaseEventSink), StringComparison.Ordinal)).ToList();
        Assert.Equal(2, lines.Count);
        Assert.All(lines, line => Assert.StartsWith("Information", line));
        Assert.Contains("rtm_1", lines[0]);
        Assert.Contains("sec_1", lines[0]);
        Assert.Contains("api.example.com", lines[0]);
        Assert.Contains("domain_not_allowed", lines[1]);

        var mine = measurements.Where(m => m.Tags.ContainsKey("outcome")).ToList();
        Assert.Equal(2, mine.Count);
        Assert.All(mine, m => Assert.Equal(new[] { "location", "outcome", "reason" }, m.Tags.Keys.Order()));
        Assert.Equal(("released", "none", "query"), ((string?)mine[0].Tags["outcome"], (string?)mine[0].Tags["reason"], (string?)mine[0].Tags["location"]));
        Assert.Equal(("refused", "domain_not_allowed", "other"), ((string?)mine[1].Tags["outcome"], (string?)mine[1].Tags["reason"], (string?)mine[1].Tags["location"]));
    }
}
